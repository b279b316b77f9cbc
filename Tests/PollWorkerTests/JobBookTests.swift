import Foundation
import Models
import Testing

@testable import PollWorker

private func rejection(_ id: String?, attempt: Int? = 1) -> JobDecoding {
    .invalid(
        JobRejection(
            id: id, attempt: attempt, type: "create_vm",
            error: JobValidationError(field: "vmName", reason: "must not be empty")))
}

/// A book over a real state store (a fresh one unless given), its clock at `fixedNow` unless given one.
private func makeBook(
    maxConcurrent: Int, bells: [Doorbell] = [], store: StateStore? = nil,
    now: @escaping @Sendable () -> Date = { fixedNow }
) throws -> JobBook {
    JobBook(maxConcurrent: maxConcurrent, store: try store ?? makeStore(), bells: bells, logger: testLogger, now: now)
}

/// What an executor returns for a job it stopped: `cancelled`, with its own message.
private func executorCancelled(_ job: Job) -> JobResult {
    var result = makeResult(job, .cancelled)
    result.error = WireError(code: .cancelled, message: "the job was cancelled")
    return result
}

/// Admits rejections for `ids` (each becomes a result at once) and has them accepted in one reply.
private func acceptRejections(_ book: JobBook, ids: [String]) async throws -> [JobRef] {
    let refs = ids.map { JobRef(jobId: $0, attempt: 1) }
    #expect(try await book.admitJobs(ids.map { rejection($0) }).isEmpty)
    #expect(await book.pendingResultCount == refs.count)
    await book.accepted(refs)
    #expect(await book.pendingResultCount == 0)
    return refs
}

@Suite("JobBook: admission, capacity and duplicates")
struct JobBookAdmissionTests {
    @Test("Capacity is the limit minus the jobs not yet finished")
    func capacity() async throws {
        let book = try makeBook(maxConcurrent: 3)
        #expect(await book.capacity == 3)
        let first = makeJob("job-1", vm: "a")
        let second = makeJob("job-2", vm: nil)
        let admitted = try await book.admitJobs([.valid(first), .valid(second)])
        #expect(admitted == [first, second])
        #expect(await book.capacity == 1)
        #expect(await book.unfinishedCount == 2)
        #expect(await book.isIdle == false)

        await book.finish(makeResult(first))
        #expect(await book.capacity == 2)

        await book.finish(makeResult(second))
        #expect(await book.capacity == 3)
        #expect(await book.isIdle)
        // Finished but not yet accepted: still held, still to be reported.
        #expect(await book.heldRefs == [first.ref, second.ref])
        #expect(await book.pendingResultCount == 2)
    }

    @Test("Capacity never goes below zero")
    func capacityFloor() async throws {
        let book = try makeBook(maxConcurrent: 1)
        let jobs = [makeJob("job-1", vm: nil), makeJob("job-2", vm: nil)]
        let decodings = jobs.map(JobDecoding.valid)
        #expect(try await book.admitJobs(decodings) == jobs)
        #expect(await book.capacity == 0)
    }

    @Test("Admitted jobs are journaled as claimed before they run")
    func admissionIsJournaled() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 3, store: store)
        let job = makeJob("job-1", vm: "a")
        #expect(try store.entry(job.ref) == nil)
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(try store.entry(job.ref) == .claimed)
        #expect(await book.waitTurn(job.ref))
        #expect(try store.entry(job.ref) == .started)
        let result = makeResult(job)
        await book.finish(result)
        #expect(try store.entry(job.ref) == .finished(result))
    }

    @Test("takeTurn marks a job running without journaling; a start that cannot be journaled ends the job")
    func startJournalFailure() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 3, store: store)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        let turn = try #require(await book.takeTurn(job.ref))
        #expect(try store.entry(job.ref) == .claimed)
        // The journal goes away under the book: the start (and then the result) cannot be written.
        try await store.database.write { db in try db.execute(sql: "DROP TABLE journal") }
        #expect(await !book.journalStart(job.ref, turn))
        await expectStartNotJournaled(book, job.ref)
    }

    @Test("A rejected delivery becomes a pending rejected result at once and is not run")
    func rejectionBecomesResult() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 3, store: store)
        let decoding = rejection("bad-1", attempt: 2)
        let admitted = try await book.admitJobs([decoding])
        #expect(admitted.isEmpty)

        let pending = await book.pendingResults(limit: 10)
        #expect(pending.count == 1)
        let result = try #require(pending.first)
        #expect(result.ref == JobRef(jobId: "bad-1", attempt: 2))
        #expect(result.status == .rejected)
        #expect(result.type == "create_vm")
        #expect(result.error == WireError(code: .invalidJob, message: "vmName: must not be empty"))
        #expect(result.startedAt == fixedNow)
        #expect(result.finishedAt == fixedNow)
        #expect(try store.entry(result.ref) == .finished(result))
        #expect(await book.heldRefs == [JobRef(jobId: "bad-1", attempt: 2)])
        #expect(await book.capacity == 3)
        #expect(await book.producedStatuses == [.rejected: 1])
    }

    @Test("A rejected delivery without an id is dropped")
    func rejectionWithoutID() async throws {
        let book = try makeBook(maxConcurrent: 3)
        #expect(try await book.admitJobs([rejection(nil), rejection("")]).isEmpty)
        #expect(await book.pendingResultCount == 0)
        #expect(await book.heldRefs.isEmpty)
    }

    @Test("A duplicate of a waiting job is not returned again")
    func duplicateWaiting() async throws {
        let book = try makeBook(maxConcurrent: 3)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(try await book.admitJobs([.valid(job)]).isEmpty)
        #expect(await book.heldRefs == [job.ref])
    }

    @Test("A duplicate within one claim reply is returned once")
    func duplicateInOneReply() async throws {
        let book = try makeBook(maxConcurrent: 3)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job), .valid(job)]) == [job])
        #expect(await book.heldRefs == [job.ref])
    }

    @Test("A duplicate of a running job is not returned again")
    func duplicateRunning() async throws {
        let book = try makeBook(maxConcurrent: 3)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(await book.waitTurn(job.ref))
        #expect(try await book.admitJobs([.valid(job)]).isEmpty)
        #expect(await book.unfinishedCount == 1)
    }

    @Test("A duplicate of a finished job is not returned again and its result is not duplicated")
    func duplicateFinished() async throws {
        let book = try makeBook(maxConcurrent: 3)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(await book.waitTurn(job.ref))
        let result = makeResult(job)
        await book.finish(result)
        #expect(try await book.admitJobs([.valid(job)]).isEmpty)
        #expect(await book.pendingResults(limit: 10) == [result])
        #expect(await book.heldRefs == [job.ref])
    }

    @Test("A duplicate of an accepted job is not run; its stored result goes back into the outbox")
    func duplicateAccepted() async throws {
        let book = try makeBook(maxConcurrent: 3)
        let job = makeJob("job-1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(await book.waitTurn(job.ref))
        let result = makeResult(job, .failed)
        await book.finish(result)
        await book.accepted([job.ref])
        #expect(await book.heldRefs.isEmpty)
        #expect(await book.pendingResults(limit: 10).isEmpty)

        #expect(try await book.admitJobs([.valid(job)]).isEmpty)
        #expect(await book.pendingResults(limit: 10) == [result])
        #expect(await book.heldRefs == [job.ref])
        // Resending is not producing again.
        #expect(await book.producedStatuses == [.failed: 1])
    }

    @Test("A duplicate of an accepted rejection is answered with the stored result")
    func duplicateAcceptedRejection() async throws {
        let clock = TestClock()
        let book = try makeBook(maxConcurrent: 3, now: { clock.now })
        #expect(try await book.admitJobs([rejection("bad-1")]).isEmpty)
        let stored = try #require(await book.pendingResults(limit: 1).first)
        await book.accepted([JobRef(jobId: "bad-1", attempt: 1)])
        #expect(await book.pendingResults(limit: 10).isEmpty)

        clock.advance(by: 60)
        #expect(try await book.admitJobs([rejection("bad-1")]).isEmpty)
        // The stored result, with its original times, not a new rejection.
        #expect(await book.pendingResults(limit: 10) == [stored])
        #expect(await book.producedStatuses == [.rejected: 1])
    }

    @Test("A job accepted before a restart is answered with its stored result when delivered again")
    func duplicateAcceptedAcrossRestart() async throws {
        let directory = makeStateDirectory()
        let job = makeJob("job-1", vm: "a")
        let result = makeResult(job)
        do {
            let book = try makeBook(maxConcurrent: 3, store: makeStore(directory: directory))
            #expect(try await book.admitJobs([.valid(job)]) == [job])
            #expect(await book.waitTurn(job.ref))
            await book.finish(result)
            await book.accepted([job.ref])
        }

        let store = try makeStore(directory: directory)
        let recovery = try store.recover(now: fixedNow)
        #expect(recovery.pending.isEmpty)
        let book = try makeBook(maxConcurrent: 3, store: store)
        #expect(await book.restore(recovery).isEmpty)
        #expect(await book.heldRefs.isEmpty)

        #expect(try await book.admitJobs([.valid(job)]).isEmpty, "an accepted job must not run again after a restart")
        #expect(await book.pendingResults(limit: 10) == [result])
        #expect(await book.heldRefs == [job.ref])
    }

    @Test("The same id with the next attempt is a new job")
    func nextAttempt() async throws {
        let book = try makeBook(maxConcurrent: 3)
        let first = makeJob("job-1", attempt: 1, vm: "a")
        let second = makeJob("job-1", attempt: 2, vm: "a")
        #expect(try await book.admitJobs([.valid(first)]) == [first])
        #expect(try await book.admitJobs([.valid(second)]) == [second])

        await book.finish(makeResult(first))
        await book.finish(makeResult(second))
        await book.accepted([first.ref, second.ref])
        #expect(await book.heldRefs.isEmpty)
        let third = makeJob("job-1", attempt: 3, vm: "a")
        #expect(try await book.admitJobs([.valid(third)]) == [third])
    }

    @Test("Admitting, finishing and accepting ring the bells", .timeLimit(.minutes(1)))
    func ringsBells() async throws {
        let bell = Doorbell()
        let book = try makeBook(maxConcurrent: 3, bells: [bell])
        let job = makeJob("job-1", vm: nil)
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await bell.wait()
        await book.finish(makeResult(job))
        await bell.wait()
        await book.accepted([job.ref])
        await bell.wait()
    }
}

@Suite("JobBook: per-VM order, results, leases")
struct JobBookOrderTests {
    @Test("A job on another VM and the head of a VM's queue run at once", .timeLimit(.minutes(1)))
    func headsRunAtOnce() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let a1 = makeJob("a1", vm: "a")
        let a2 = makeJob("a2", vm: "a")
        let b1 = makeJob("b1", vm: "b")
        let listing = makeJob("list", vm: nil)
        #expect(try await book.admitJobs([.valid(a1), .valid(a2), .valid(b1), .valid(listing)]).count == 4)
        #expect(await book.waitTurn(b1.ref))
        #expect(await book.waitTurn(a1.ref))
        #expect(await book.waitTurn(listing.ref))
    }

    @Test("The second job on a VM waits until the first finishes", .timeLimit(.minutes(1)))
    func secondJobWaits() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let a1 = makeJob("a1", vm: "a")
        let a2 = makeJob("a2", vm: "a")
        let b1 = makeJob("b1", vm: "b")
        #expect(try await book.admitJobs([.valid(a1), .valid(a2), .valid(b1)]) == [a1, a2, b1])
        #expect(await book.waitTurn(a1.ref))
        #expect(await book.waitTurn(b1.ref))

        let events = EventLog()
        let started = Doorbell()
        let a2Ref = a2.ref
        let waiter = Task {
            started.ring()
            let mayRun = await book.waitTurn(a2Ref)
            await events.append("a2 may run")
            return mayRun
        }
        await started.wait()

        // Before a1 finishes, a2 has not been let through and is still held.
        #expect(await events.entries.isEmpty)
        #expect(await book.heldRefs.contains(a2.ref))
        // b1 finishing does not release a2: it is on another VM.
        await book.finish(makeResult(b1))
        #expect(await events.entries.isEmpty)

        await events.append("a1 finished")
        await book.finish(makeResult(a1))
        #expect(await waiter.value)
        #expect(await events.entries == ["a1 finished", "a2 may run"])
    }

    @Test("Jobs that only read a VM run side by side; a change waits for the reads before it", .timeLimit(.minutes(1)))
    func readsShareTheirVM() async throws {
        let book = try makeBook(maxConcurrent: 8)
        let info1 = makeInfoJob("info1", vm: "a")
        let info2 = makeInfoJob("info2", vm: "a")
        let start = makeJob("start", vm: "a")
        let info3 = makeInfoJob("info3", vm: "a")
        #expect(try await book.admitJobs([.valid(info1), .valid(info2), .valid(start), .valid(info3)]).count == 4)
        // Both reads at the head run at once, without either finishing.
        #expect(await book.waitTurn(info1.ref))
        #expect(await book.waitTurn(info2.ref))

        let events = EventLog()
        let bothWaiting = Latch()
        let waiting = Locked(0)
        let startRef = start.ref
        let info3Ref = info3.ref
        let arrive: @Sendable () -> Void = {
            if waiting.withLock({
                $0 += 1
                return $0
            }) == 2 {
                bothWaiting.open()
            }
        }
        let change = Task {
            arrive()
            let mayRun = await book.waitTurn(startRef)
            await events.append("start")
            return mayRun
        }
        let laterRead = Task {
            arrive()
            let mayRun = await book.waitTurn(info3Ref)
            await events.append("info3")
            return mayRun
        }
        await bothWaiting.wait()
        // The start waits for both reads; the read queued after the start waits for the start.
        await book.finish(makeResult(info1))
        #expect(await events.entries.isEmpty)
        await events.append("info2 finished")
        await book.finish(makeResult(info2))
        #expect(await change.value)
        #expect(await events.entries == ["info2 finished", "start"])
        await events.append("start finished")
        await book.finish(makeResult(start))
        #expect(await laterRead.value)
        #expect(await events.entries == ["info2 finished", "start", "start finished", "info3"])
    }

    @Test("Results come out in completion order, up to the limit")
    func pendingOrder() async throws {
        let clock = TestClock()
        let book = try makeBook(maxConcurrent: 5, now: { clock.now })
        let jobs = ["j1", "j2", "j3"].map { makeJob($0, vm: nil) }
        let decodings = jobs.map(JobDecoding.valid)
        #expect(try await book.admitJobs(decodings) == jobs)
        let results = [makeResult(jobs[2]), makeResult(jobs[0]), makeResult(jobs[1], .failed)]
        for result in results {
            clock.advance(by: 1)
            await book.finish(result)
        }
        #expect(await book.pendingResults(limit: 10) == results)
        #expect(await book.pendingResults(limit: 2) == Array(results.prefix(2)))
        #expect(await book.pendingResultCount == 3)
    }

    @Test("Results finished at the same instant come out in arrival order")
    func pendingTieOrder() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let jobs = ["j1", "j2", "j3"].map { makeJob($0, vm: nil) }
        #expect(try await book.admitJobs(jobs.map(JobDecoding.valid)) == jobs)
        for job in jobs.reversed() {
            await book.finish(makeResult(job))
        }
        #expect(await book.pendingResults(limit: 10) == jobs.map { makeResult($0) })
    }

    @Test("accepted removes the job from the held list and the outbox")
    func acceptedForgets() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 5, store: store)
        let first = makeJob("j1", vm: "a")
        let second = makeJob("j2", vm: "b")
        #expect(try await book.admitJobs([.valid(first), .valid(second)]) == [first, second])
        await book.finish(makeResult(first))
        await book.finish(makeResult(second))

        await book.accepted([first.ref, JobRef(jobId: "unknown-id", attempt: 1)])
        #expect(await book.heldRefs == [second.ref])
        #expect(await book.pendingResults(limit: 10) == [makeResult(second)])
        #expect(try store.entry(first.ref) == .accepted(makeResult(first)))

        await book.accepted([])
        #expect(await book.pendingResultCount == 1)
    }

    @Test("accepted names an attempt: another attempt of the same id stays held")
    func acceptedIsPerAttempt() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let first = makeJob("j1", attempt: 1, vm: "a")
        let second = makeJob("j1", attempt: 2, vm: "a")
        #expect(try await book.admitJobs([.valid(first), .valid(second)]) == [first, second])
        await book.finish(makeResult(first))
        await book.finish(makeResult(second))

        await book.accepted([first.ref])
        #expect(await book.heldRefs == [second.ref])
        #expect(await book.pendingResults(limit: 10) == [makeResult(second)])
    }

    @Test("accepted does not forget a job that has no result yet")
    func acceptedIgnoresRunning() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 5, store: store)
        let job = makeJob("j1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await book.accepted([job.ref])
        #expect(await book.heldRefs == [job.ref])
        #expect(await book.unfinishedCount == 1)
        #expect(try store.entry(job.ref) == .claimed)
    }

    @Test("A refused result is replaced once by a failed placeholder, then dropped for good and never run again")
    func dropReplacesThenDiscards() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 5, store: store)
        let kept = makeJob("j1", vm: nil)
        let refused = makeJob("j2", vm: nil)
        #expect(try await book.admitJobs([.valid(kept), .valid(refused)]) == [kept, refused])
        await book.finish(makeResult(kept))
        let original = makeResult(refused)
        await book.finish(original)

        await book.drop(original, because: "HTTP 400: bad item")
        let placeholder = try #require(await book.pendingResults(limit: 10).first { $0.jobId == "j2" })
        #expect(placeholder.status == .failed)
        #expect(placeholder.error?.code == .internal)
        #expect(placeholder.error?.message.contains("HTTP 400: bad item") == true)
        #expect(await book.heldRefs == [kept.ref, refused.ref])

        await book.drop(placeholder, because: "HTTP 400: bad item")
        #expect(await book.heldRefs == [kept.ref])
        #expect(await book.pendingResults(limit: 10) == [makeResult(kept)])
        #expect(try store.entry(refused.ref) == .discarded)
        #expect(try store.counter("discardedResults") == 1)
        // Delivered again: neither run nor answered.
        let again = try await book.admit([.valid(refused)])
        #expect(again.jobs.isEmpty)
        #expect(again.answered == 0)
        #expect(await book.heldRefs == [kept.ref])
    }

    @Test("producedStatuses counts every result produced, by status")
    func producedStatuses() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let jobs = ["j1", "j2", "j3", "j4"].map { makeJob($0, vm: nil) }
        let decodings = jobs.map(JobDecoding.valid) + [rejection("bad-1")]
        #expect(try await book.admitJobs(decodings) == jobs)
        await book.finish(makeResult(jobs[0]))
        await book.finish(makeResult(jobs[1]))
        await book.finish(makeResult(jobs[2], .failed))
        await book.finish(makeResult(jobs[3], .timedOut))
        #expect(await book.producedStatuses == [.succeeded: 2, .failed: 1, .timedOut: 1, .rejected: 1])
    }

    @Test("earliestLease is the soonest among unfinished jobs, and renew moves it")
    func leases() async throws {
        let book = try makeBook(maxConcurrent: 5)
        #expect(await book.earliestLease == nil)
        let soon = makeJob("j1", vm: "a", lease: fixedNow.addingTimeInterval(10))
        let later = makeJob("j2", vm: "b", lease: fixedNow.addingTimeInterval(20))
        #expect(try await book.admitJobs([.valid(later), .valid(soon)]) == [later, soon])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(10))

        await book.renew([ReportReply.Lease(jobId: "j1", leaseExpiresAt: fixedNow.addingTimeInterval(60))])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(20))

        await book.finish(makeResult(later))
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(60))

        await book.renew([ReportReply.Lease(jobId: "no-such-job", leaseExpiresAt: fixedNow)])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(60))

        await book.finish(makeResult(soon))
        #expect(await book.earliestLease == nil)
    }

    @Test("A renewed lease is journaled, so a restart judges the job by it")
    func renewIsJournaled() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 5, store: store)
        let job = makeJob("j1", vm: "a", lease: fixedNow.addingTimeInterval(10))
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await book.renew([ReportReply.Lease(jobId: "j1", leaseExpiresAt: fixedNow.addingTimeInterval(120))])

        // Past the delivered lease, within the renewed one.
        let recovery = try store.recover(now: fixedNow.addingTimeInterval(60))
        #expect(recovery.resumable.map(\.ref) == [job.ref])
        #expect(recovery.resumable.first?.leaseExpiresAt == fixedNow.addingTimeInterval(120))
        #expect(recovery.expired.isEmpty)
    }
}

@Suite("JobBook: stopping jobs")
struct JobBookStopTests {
    @Test("Cancelling a waiting job ends it cancelled at once, without running it", .timeLimit(.minutes(1)))
    func cancelWaiting() async throws {
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 5, store: store)
        let a1 = makeJob("a1", vm: "a")
        let a2 = makeJob("a2", vm: "a")
        #expect(try await book.admitJobs([.valid(a1), .valid(a2)]) == [a1, a2])
        #expect(await book.waitTurn(a1.ref))

        // a2 waits behind a1; whether its waitTurn has begun or not, the cancel must end it.
        let started = Doorbell()
        let a2Ref = a2.ref
        let waiter = Task {
            started.ring()
            return await book.waitTurn(a2Ref)
        }
        await started.wait()
        await book.cancel(jobIds: ["a2"], reason: .controlPlane)
        #expect(await waiter.value == false, "a cancelled job must not run")

        let pending = await book.pendingResults(limit: 10)
        #expect(pending.count == 1)
        let result = try #require(pending.first)
        #expect(result.ref == a2.ref)
        #expect(result.type == "start_vm")
        #expect(result.status == .cancelled)
        #expect(result.error == WireError(code: .cancelled, message: CancelReason.controlPlane.message))
        #expect(try store.entry(a2.ref) == .finished(result))
        #expect(await book.unfinishedCount == 1)
        #expect(await book.producedStatuses == [.cancelled: 1])
        // a1 keeps running: it was not named.
        #expect(try store.entry(a1.ref) == .started)
    }

    @Test("Cancelling the job at the head of a VM's queue lets the next job on that VM run", .timeLimit(.minutes(1)))
    func cancelHeadReleasesNext() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let a1 = makeJob("a1", vm: "a")
        let a2 = makeJob("a2", vm: "a")
        #expect(try await book.admitJobs([.valid(a1), .valid(a2)]) == [a1, a2])

        let started = Doorbell()
        let a2Ref = a2.ref
        let waiter = Task {
            started.ring()
            return await book.waitTurn(a2Ref)
        }
        await started.wait()
        await book.cancel(jobIds: ["a1"], reason: .controlPlane)
        #expect(await waiter.value, "a2 must run once the cancelled a1 leaves the queue")
        #expect(await book.waitTurn(a1.ref) == false)
    }

    @Test("Cancelling a running job calls its canceller once; the executor's cancelled result carries the reason")
    func cancelRunning() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let job = makeJob("j1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(await book.waitTurn(job.ref))
        let calls = Collected<String>()
        await book.attach(job.ref) { calls.append("cancel") }
        #expect(calls.all.isEmpty)

        await book.cancel(jobIds: ["j1", "no-such-job"], reason: .controlPlane)
        #expect(calls.all == ["cancel"])
        // Asking again does not stop it twice.
        await book.cancel(jobIds: ["j1"], reason: .controlPlane)
        #expect(calls.all == ["cancel"])
        // It ends when its executor returns, not before.
        #expect(await book.unfinishedCount == 1)
        #expect(await book.pendingResultCount == 0)

        await book.finish(executorCancelled(job))
        let result = try #require(await book.pendingResults(limit: 10).first)
        #expect(result.ref == job.ref)
        #expect(result.status == .cancelled)
        #expect(result.error == WireError(code: .cancelled, message: CancelReason.controlPlane.message))
        #expect(await book.isIdle)
    }

    @Test("A canceller attached after the cancel request is called at once")
    func lateCanceller() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let job = makeJob("j1", vm: nil)
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(await book.waitTurn(job.ref))
        await book.cancel(jobIds: ["j1"], reason: .controlPlane)

        let calls = Collected<String>()
        await book.attach(job.ref) { calls.append("cancel") }
        #expect(calls.all == ["cancel"])
    }

    @Test("A job that ends on its own after a cancel request keeps its own result")
    func finishedAfterCancelKeepsResult() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let job = makeJob("j1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        #expect(await book.waitTurn(job.ref))
        await book.cancel(jobIds: ["j1"], reason: .controlPlane)
        await book.finish(makeResult(job))
        #expect(await book.pendingResults(limit: 10) == [makeResult(job)])
    }

    @Test("Cancelling a finished job changes nothing")
    func cancelFinished() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let job = makeJob("j1", vm: "a")
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await book.finish(makeResult(job, .failed))
        await book.cancel(jobIds: ["j1"], reason: .controlPlane)
        await book.cancelAll(reason: .shutdown)
        #expect(await book.pendingResults(limit: 10) == [makeResult(job, .failed)])
        #expect(await book.producedStatuses == [.failed: 1])
    }

    @Test("expireLeases stops the jobs whose lease is at or before now, and only those")
    func expireLeases() async throws {
        let clock = TestClock()
        let book = try makeBook(maxConcurrent: 5, now: { clock.now })
        let running = makeJob("running", vm: "a", lease: fixedNow.addingTimeInterval(10))
        let waiting = makeJob("waiting", vm: "b", lease: fixedNow.addingTimeInterval(20))
        let later = makeJob("later", vm: "c", lease: fixedNow.addingTimeInterval(30))
        #expect(
            try await book.admitJobs([.valid(running), .valid(waiting), .valid(later)]) == [running, waiting, later])
        #expect(await book.waitTurn(running.ref))
        #expect(await book.waitTurn(later.ref))
        let calls = Collected<String>()
        await book.attach(running.ref) { calls.append("running") }
        await book.attach(later.ref) { calls.append("later") }

        #expect(await book.expireLeases() == 0)
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(10))

        // Past running's lease, exactly at waiting's, before later's.
        clock.set(fixedNow.addingTimeInterval(20))
        #expect(await book.expireLeases() == 2)
        #expect(calls.all == ["running"])
        #expect(await book.waitTurn(waiting.ref) == false)
        let pending = await book.pendingResults(limit: 10)
        #expect(pending.map(\.ref) == [waiting.ref])
        #expect(pending.first?.status == .cancelled)
        #expect(pending.first?.error == WireError(code: .cancelled, message: CancelReason.leaseExpired.message))
        // The stopped jobs no longer set the heartbeat's pace.
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(30))
        #expect(await book.unfinishedCount == 2)

        await book.finish(executorCancelled(running))
        let stopped = try #require(await book.pendingResults(limit: 10).first { $0.ref == running.ref })
        #expect(stopped.error == WireError(code: .cancelled, message: CancelReason.leaseExpired.message))

        // A renewed lease is not expired.
        await book.renew([ReportReply.Lease(jobId: "later", leaseExpiresAt: fixedNow.addingTimeInterval(60))])
        clock.set(fixedNow.addingTimeInterval(40))
        #expect(await book.expireLeases() == 0)
        #expect(calls.all == ["running"])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(60))
    }

    @Test("cancelAll stops every job not finished")
    func cancelAll() async throws {
        let book = try makeBook(maxConcurrent: 5)
        let running = makeJob("running", vm: "a")
        let waiting = makeJob("waiting", vm: "a")
        let unstarted = makeJob("unstarted", vm: nil)
        let done = makeJob("done", vm: "b")
        let jobs = [running, waiting, unstarted, done]
        #expect(try await book.admitJobs(jobs.map(JobDecoding.valid)) == jobs)
        #expect(await book.waitTurn(running.ref))
        #expect(await book.waitTurn(done.ref))
        await book.finish(makeResult(done))
        let calls = Collected<String>()
        await book.attach(running.ref) { calls.append("running") }

        await book.cancelAll(reason: .shutdown)
        #expect(calls.all == ["running"])
        #expect(await book.waitTurn(waiting.ref) == false)
        #expect(await book.waitTurn(unstarted.ref) == false)
        #expect(await book.unfinishedCount == 1)
        #expect(await book.earliestLease == nil)

        await book.finish(executorCancelled(running))
        #expect(await book.isIdle)
        let results = await book.pendingResults(limit: 10)
        #expect(results.count == 4)
        #expect(results.first { $0.ref == done.ref } == makeResult(done))
        for job in [running, waiting, unstarted] {
            let result = try #require(results.first { $0.ref == job.ref })
            #expect(result.status == .cancelled)
            #expect(result.error == WireError(code: .cancelled, message: CancelReason.shutdown.message))
        }
    }
}

@Suite("JobBook: restart and the memory of accepted results")
struct JobBookRestartTests {
    @Test("After a restart the book runs the claimed job, reports the started one interrupted and holds all")
    func restoreAfterRestart() async throws {
        let directory = makeStateDirectory()
        let clock = TestClock()
        let lease = fixedNow.addingTimeInterval(300)
        let claimed = makeJob("claimed", vm: "a", lease: lease)
        let started = makeJob("started", vm: "b", lease: lease)
        let done = makeJob("done", vm: nil, lease: lease)
        let doneResult = makeResult(done)
        let before = try makeBook(maxConcurrent: 5, store: makeStore(directory: directory), now: { clock.now })
        #expect(
            try await before.admitJobs([.valid(claimed), .valid(started), .valid(done)]) == [claimed, started, done])
        #expect(await before.waitTurn(started.ref))
        #expect(await before.waitTurn(done.ref))
        await before.finish(doneResult)

        // The agent dies here, its store never closed; the next start opens the same directory.
        clock.advance(by: 60)
        let store = try makeStore(directory: directory)
        let recovery = try store.recover(now: clock.now)
        let book = try makeBook(maxConcurrent: 5, store: store, now: { clock.now })
        #expect(await book.restore(recovery) == [claimed])

        let held = await book.heldRefs
        #expect(Set(held) == Set([claimed.ref, started.ref, done.ref]))
        #expect(held.count == 3)
        #expect(await book.unfinishedCount == 1)
        #expect(await book.pendingResultCount == 2)
        let pending = await book.pendingResults(limit: 10)
        #expect(pending.count == 2)
        #expect(pending.first { $0.ref == done.ref } == doneResult)
        let interrupted = try #require(pending.first { $0.ref == started.ref })
        #expect(interrupted.status == .interrupted)
        #expect(interrupted.type == "start_vm")
        #expect(interrupted.error?.code == .agentRestarted)
        #expect(interrupted.startedAt == fixedNow)
        #expect(interrupted.finishedAt == fixedNow.addingTimeInterval(60))
        #expect(await book.producedStatuses == [.interrupted: 1])

        // The resumed job runs, once: a re-delivery of it, or of the interrupted job, runs nothing.
        #expect(await book.waitTurn(claimed.ref))
        #expect(try await book.admitJobs([.valid(claimed), .valid(started)]).isEmpty)
        #expect(await book.pendingResultCount == 2)
        withExtendedLifetime(before) {}
    }

    @Test("A result accepted twice is kept as long as its last acceptance is among the newest kept")
    func reacceptedResultIsNotForgottenEarly() async throws {
        let clock = TestClock()
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 2, store: store, now: { clock.now })
        let job = makeJob("job-a", vm: nil)
        let result = makeResult(job)
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await book.finish(result)
        await book.accepted([job.ref])

        // Accepted after job-a's first acceptance, before its second.
        clock.advance(by: 1)
        let early = try await acceptRejections(book, ids: (0..<10).map { "early-\($0)" })

        // Delivered again: the stored result goes out again and is accepted again.
        clock.advance(by: 1)
        #expect(try await book.admitJobs([.valid(job)]).isEmpty)
        #expect(await book.pendingResults(limit: 10) == [result])
        await book.accepted([job.ref])

        // acceptedKept - 1 more acceptances fit beside job-a; the early ones are now the oldest and go.
        clock.advance(by: 1)
        _ = try await acceptRejections(book, ids: (0..<StateStore.acceptedKept - 1).map { "later-\($0)" })
        for ref in early {
            #expect(try store.entry(ref) == nil)
        }
        #expect(try store.entry(job.ref) == .accepted(result))
        #expect(try await book.admitJobs([.valid(job)]).isEmpty, "job-a must not run again")
        #expect(await book.pendingResults(limit: 10) == [result])
    }

    @Test("An accepted result is forgotten once acceptedKept newer ones are accepted")
    func acceptedResultIsForgottenAtTheLimit() async throws {
        let clock = TestClock()
        let store = try makeStore()
        let book = try makeBook(maxConcurrent: 2, store: store, now: { clock.now })
        let job = makeJob("job-a", vm: nil)
        #expect(try await book.admitJobs([.valid(job)]) == [job])
        await book.finish(makeResult(job))
        await book.accepted([job.ref])

        clock.advance(by: 1)
        _ = try await acceptRejections(book, ids: (0..<StateStore.acceptedKept).map { "later-\($0)" })
        #expect(try store.entry(job.ref) == nil)
        // Nothing is left to answer with: the delivery is a new job.
        #expect(try await book.admitJobs([.valid(job)]) == [job])
    }
}
