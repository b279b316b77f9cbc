import Foundation
import Models
import Testing

@testable import PollWorker

#if canImport(Glibc)
    import Glibc
#endif

/// A book whose jobs start early when `early` says so, over `store`.
private func earlyBook(_ store: StateStore, slots: Int = 4, early: @escaping @Sendable (Job) -> Bool = { _ in true })
    -> JobBook
{
    JobBook(maxConcurrent: slots, store: store, bells: [], logger: testLogger, now: { fixedNow }, startsEarly: early)
}

@Suite("JobBook: early starts, journaled on admission")
struct JobBookEarlyStartTests {
    @Test("A job nothing holds back is journaled started on admission; the runner only waits for the flush")
    func startsOnAdmission() async throws {
        let store = try makeStore()
        let book = earlyBook(store)
        let job = makeJob("job-1", vm: "a")
        let listing = makeJob("job-2", vm: nil)
        #expect(try await book.admitJobs([.valid(job), .valid(listing)]) == [job, listing])
        #expect(try store.entry(job.ref) == .started)
        #expect(try store.entry(listing.ref) == .started)
        // One flush covers both starts, begun by admission itself.
        while store.syncer.flushes < 1 { await Task.yield() }
        for ref in [job.ref, listing.ref] {
            let turn = try #require(await book.takeTurn(ref))
            guard case .journaled = turn else {
                Issue.record("expected an early start, got \(turn)")
                return
            }
            #expect(await book.journalStart(ref, turn))
        }
        #expect(store.syncer.flushes == 1)
        #expect(await book.capacity == 2)
    }

    @Test("A job whose VM is busy, or that the predicate holds back, is only claimed and waits its turn")
    func heldBack() async throws {
        let store = try makeStore()
        let book = earlyBook(store) { $0.id != "job-held" }
        let first = makeJob("job-1", vm: "a")
        let second = makeJob("job-2", vm: "a")
        let held = makeJob("job-held", vm: "b")
        #expect(try await book.admitJobs([.valid(first), .valid(second), .valid(held)]).count == 3)
        #expect(try store.entry(first.ref) == .started)
        #expect(try store.entry(second.ref) == .claimed)
        #expect(try store.entry(held.ref) == .claimed)
        // A later claim for the VM still busy: claimed too.
        let third = makeJob("job-3", vm: "a")
        #expect(try await book.admitJobs([.valid(third)]) == [third])
        #expect(try store.entry(third.ref) == .claimed)

        let heldTurn = try #require(await book.takeTurn(held.ref))
        guard case .journal = heldTurn else {
            Issue.record("expected a start to journal, got \(heldTurn)")
            return
        }
        #expect(await book.journalStart(held.ref, heldTurn))
        #expect(try store.entry(held.ref) == .started)

        let secondTurn = Task { await book.waitTurn(second.ref) }
        #expect(await book.waitTurn(first.ref))
        await book.finish(makeResult(first))
        #expect(await secondTurn.value)
        #expect(try store.entry(second.ref) == .started)
    }

    @Test("An early start stopped before the runner takes it ends cancelled and never runs")
    func stoppedBeforeTheRunner() async throws {
        let store = try makeStore()
        let book = earlyBook(store)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(try store.entry(job.ref) == .started)
        await book.cancel(jobIds: [job.id], reason: .controlPlane)
        // Ended at once, before (and whether or not) the runner comes for it.
        let pending = await book.pendingResults(limit: 10)
        #expect(pending.map(\.status) == [.cancelled])
        #expect(pending.first?.error?.code == .cancelled)
        #expect(await book.isIdle)
        #expect(await book.takeTurn(job.ref) == nil)
    }

    @Test("An early start whose flush fails ends the job with an internal error instead of running it")
    func flushFails() async throws {
        let store = try StateStore(directory: makeStateDirectory(), maxOutboxBytes: 1 << 26) { _ in EIO }
        let book = earlyBook(store)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(try store.entry(job.ref) == .started)
        let turn = try #require(await book.takeTurn(job.ref))
        #expect(await !book.journalStart(job.ref, turn))
        await expectStartNotJournaled(book, job.ref)
    }

    @Test(
        "An agent that dies after admission reports an early start interrupted (never run twice); a claim is resumed",
        arguments: [true, false])
    func crashAfterAdmission(early: Bool) async throws {
        let directory = makeStateDirectory()
        let store = try makeStore(directory: directory)
        let book = earlyBook(store) { _ in early }
        let job = makeJob("job-1", vm: "a", lease: fixedNow.addingTimeInterval(3600))
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        // Neither takeTurn nor journalStart: the agent dies before the runner has the job.
        try await store.syncer.sync()
        let recovery = try makeStore(directory: directory).recover(now: fixedNow)
        #expect(recovery.interrupted == (early ? [job.ref] : []))
        #expect(recovery.resumable.map(\.ref) == (early ? [] : [job.ref]))
    }

    @Test("A result whose acceptance could not be recorded is still read from the outbox and sent again")
    func unheldResult() async throws {
        let store = try makeStore()
        let book = earlyBook(store)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await book.finish(makeResult(job))
        try await store.database.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER refuse_accept BEFORE UPDATE OF state ON journal WHEN NEW.state = 'accepted'
                    BEGIN SELECT RAISE(ABORT, 'refused'); END
                    """)
        }
        await book.accepted([job.ref])
        // The book let go of it; the outbox still has it, so it goes out again.
        #expect(await book.pendingResultCount == 0)
        #expect(await book.pendingResults(limit: 10).map(\.ref) == [job.ref])
    }
}

/// Early starts handed to the runner before their claim is written (`handOff`).
@Suite("JobBook: early starts handed to the runner before the claim's write")
struct JobBookHandOffTests {
    /// What the hand-off saw: the job, and whether the journal had a row for it then.
    private struct HandOff: Sendable, Equatable {
        var ref: JobRef
        var journaled: Bool
    }

    private func book(_ store: StateStore, seen: Collected<HandOff>, accept: Bool = true) -> JobBook {
        JobBook(
            maxConcurrent: 4, store: store, bells: [], logger: testLogger, now: { fixedNow },
            startsEarly: { _ in true },
            handOff: { job in
                seen.append(HandOff(ref: job.ref, journaled: (try? store.entry(job.ref)) != nil))
                return accept
            })
    }

    @Test("Early starts reach the runner before their claim is written, once; the rest wait for the poller")
    func handsOffBeforeTheWrite() async throws {
        let store = try makeStore()
        let seen = Collected<HandOff>()
        let book = book(store, seen: seen)
        let first = makeJob("job-1", vm: "a")
        let second = makeJob("job-2", vm: "a")
        let listing = makeJob("job-3", vm: nil)
        let admission = try await book.admit([.valid(first), .valid(second), .valid(listing)])
        #expect(admission.jobs == [first, second, listing])
        #expect(admission.handedOff == [first.ref, listing.ref])
        #expect(seen.all == [HandOff(ref: first.ref, journaled: false), HandOff(ref: listing.ref, journaled: false)])
        // Written by the time admission returns, as started.
        #expect(try store.entry(first.ref) == .started)
        #expect(try store.entry(second.ref) == .claimed)
        #expect(book.takeHandOff(first.ref))
        #expect(!book.takeHandOff(first.ref))
        #expect(!book.takeHandOff(second.ref))
        let turn = try #require(await book.takeTurn(first.ref))
        guard case .journaled = turn else {
            Issue.record("expected an early start, got \(turn)")
            return
        }
        #expect(await book.journalStart(first.ref, turn))
    }

    @Test("A job the runner's queue refuses (it has closed) is left to the poller")
    func refusedHandOff() async throws {
        let store = try makeStore()
        let seen = Collected<HandOff>()
        let book = book(store, seen: seen, accept: false)
        let job = makeJob("job-1", vm: nil)
        let admission = try await book.admit([.valid(job)])
        #expect(seen.all.map(\.ref) == [job.ref])
        #expect(admission.handedOff.isEmpty)
        #expect(admission.jobs == [job])
        #expect(!book.takeHandOff(job.ref))
    }

    @Test("When the claim cannot be written after the hand-off, the runner's takeTurn says no and nothing is held")
    func failedWriteAfterHandOff() async throws {
        let store = try makeStore()
        let seen = Collected<HandOff>()
        let book = book(store, seen: seen)
        try await store.database.write { db in
            try db.execute(
                sql: "CREATE TRIGGER refuse_claim BEFORE INSERT ON journal BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let job = makeJob("job-1", vm: "a")
        await #expect(throws: StoreError.self) { try await book.admit([.valid(job)]) }
        // The runner had it already: it learns here not to let the child exec.
        #expect(seen.all.map(\.ref) == [job.ref])
        #expect(book.takeHandOff(job.ref))
        #expect(await book.takeTurn(job.ref) == nil)
        #expect(try store.entry(job.ref) == nil)
        #expect(await book.heldRefs.isEmpty)
        #expect(await book.capacity == 4)
    }
}
