import Foundation
import Models
import Synchronization
import Testing

@testable import PollWorker

#if canImport(Glibc)
    import Glibc
#endif

@Suite("JournalSyncer: one fsync for everyone waiting")
struct JournalSyncerTests {
    @Test(
        "The first caller flushes on its own; callers that arrive meanwhile share the next flush",
        .timeLimit(.minutes(1)))
    func groupCommit() async throws {
        let entered = Latch()
        let release = DispatchSemaphore(value: 0)
        let flushed = Locked([String]())
        let syncer = JournalSyncer(databasePath: "/state/agent.sqlite") { path in
            // The first flush holds its caller until the test has queued the others.
            if flushed.withLock({ $0.isEmpty }) {
                entered.open()
                release.wait()
            }
            flushed.withLock { $0.append(path) }
            return 0
        }
        let first = Task { try await syncer.sync() }
        await entered.wait()
        let others = (0..<9).map { _ in Task { try await syncer.sync() } }
        while syncer.queued < 10 { await Task.yield() }
        release.signal()
        try await first.value
        for task in others { try await task.value }
        // One flush for the first caller, one for the nine that came while it ran.
        #expect(flushed.withLock { $0 } == ["/state/agent.sqlite-wal", "/state/agent.sqlite-wal"])
        #expect(syncer.flushes == 2)
    }

    @Test("A failed flush is thrown to its callers and answers nobody later; without a WAL the database is flushed")
    func failures() async throws {
        let codes = Locked([EIO, ENOENT, 0, 0])
        let paths = Locked([String]())
        let syncer = JournalSyncer(databasePath: "/state/agent.sqlite") { path in
            paths.withLock { $0.append(path) }
            return codes.withLock { $0.removeFirst() }
        }
        await #expect(throws: StoreError.self) { try await syncer.sync() }
        try await syncer.sync()
        #expect(paths.withLock { $0 } == ["/state/agent.sqlite-wal", "/state/agent.sqlite-wal", "/state/agent.sqlite"])
        try await syncer.sync()
        #expect(syncer.flushes == 3)
    }

    @Test("begin flushes on the queue at once; waiters and callbacks hear the outcome, late ones at once")
    func begin() async throws {
        let entered = Latch()
        let release = DispatchSemaphore(value: 0)
        let codes = Locked([Int32(0), 0, 0, EIO])
        let calls = Locked(0)
        let syncer = JournalSyncer(databasePath: "/state/agent.sqlite") { _ in
            calls.withLock { $0 += 1 }
            entered.open()
            release.wait()
            return codes.withLock { $0.removeFirst() }
        }
        let flush = syncer.begin()
        // Begun without anyone waiting: the flush is under way on the queue.
        await entered.wait()
        let heard = Collected<String>()
        flush.whenDone { heard.append($0 == nil ? "ok" : "failed") }
        #expect(heard.all.isEmpty)
        let waiter = Task { try await flush.wait() }
        release.signal()
        try await waiter.value
        #expect(heard.all == ["ok"])
        flush.whenDone { heard.append($0 == nil ? "late ok" : "late failed") }
        #expect(heard.all == ["ok", "late ok"])

        // A sync asked while a begun flush runs waits for the next flush on the queue.
        let during = syncer.begin()
        // Its flush is under way (it has read what it covers) before the sync is asked.
        while calls.withLock({ $0 }) < 2 { await Task.yield() }
        let waiting = Task { try await syncer.sync() }
        while syncer.queued < 3 { await Task.yield() }
        release.signal()
        release.signal()
        try await during.wait()
        try await waiting.value
        #expect(syncer.flushes == 3)

        release.signal()
        let failing = syncer.begin()
        await #expect(throws: StoreError.self) { try await failing.wait() }
        failing.whenDone { heard.append($0 == nil ? "ok" : "failed") }
        #expect(heard.all == ["ok", "late ok", "failed"])
        #expect(syncer.flushes == 4)
    }

    @Test("On a real store, a start committed without an fsync is flushed by sync and reads back")
    func realStore() async throws {
        let directory = makeStateDirectory()
        let store = try makeStore(directory: directory)
        let job = makeJob("job-1", vm: "dev")
        try store.journalClaimed([job], rejected: [], at: fixedNow)
        try store.markStarted(job.ref, at: fixedNow, durable: false)
        #expect(access(store.path + "-wal", F_OK) == 0)
        try await store.syncer.sync()
        #expect(store.syncer.flushes == 1)
        #expect(try makeStore(directory: directory).entry(job.ref) == .started)
    }
}
