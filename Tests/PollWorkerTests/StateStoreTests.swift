import Foundation
import Models
import Testing

@testable import PollWorker

/// Bytes of `value` as the store keeps it (the wire's JSON).
private func storedSize(_ value: some Encodable) throws -> Int {
    try WireJSON.encoder().encode(value).count
}

/// A log chunk whose stored form is exactly `bytes` long.
private func paddedLog(_ seq: Int, bytes: Int) throws -> LogChunk {
    var chunk = LogChunk(jobId: "job-1", seq: seq, stream: .stdout, at: fixedNow, text: "")
    let padding = try bytes - storedSize(chunk)
    try #require(padding >= 0)
    chunk.text = String(repeating: "x", count: padding)
    try #require(try storedSize(chunk) == bytes)
    return chunk
}

/// A metrics sample whose stored form is exactly `bytes` long.
private func paddedSample(_ index: Int, bytes: Int) throws -> MetricsSample {
    var sample = MetricsSample(
        at: fixedNow.addingTimeInterval(TimeInterval(index)), vms: [MetricsSample.VM(name: "", status: "Running")])
    let padding = try bytes - storedSize(sample)
    try #require(padding >= 0)
    sample.vms = [MetricsSample.VM(name: String(repeating: "v", count: padding), status: "Running")]
    try #require(try storedSize(sample) == bytes)
    return sample
}

/// A result that needs no job row first (as a rejection is journaled).
private func plainResult(_ id: String, stdout: String? = nil) -> JobResult {
    JobResult(
        jobId: id, attempt: 1, type: "list_vms", status: .succeeded, startedAt: fixedNow, finishedAt: fixedNow,
        duration: 0, stdout: stdout)
}

@Suite("StateStore: the file, the journal and recovery")
struct StateStoreJournalTests {
    @Test("The database is a WAL-mode SQLite file in the state directory, at the current schema version")
    func fileAndSchema() throws {
        let directory = makeStateDirectory()
        let store = try makeStore(directory: directory)
        let file = (directory as NSString).appendingPathComponent("agent.sqlite")
        #expect(store.path == file)
        #expect(try store.schemaVersion() == ["v1", "v2-approvals"])
        try store.enqueueLogs([LogChunk(jobId: nil, seq: 1, stream: .agent, at: fixedNow, text: "hello")])
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(FileManager.default.fileExists(atPath: file + "-wal"), "a WAL-mode database has a -wal file")
        // The -wal file goes when the last connection closes: the store must still be open above.
        withExtendedLifetime(store) {}
        // Opening it again migrates nothing more.
        #expect(try makeStore(directory: directory).schemaVersion() == ["v1", "v2-approvals"])
    }

    @Test("A state directory that cannot be created is reported unavailable")
    func unavailableDirectory() throws {
        let directory = makeStateDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = (directory as NSString).appendingPathComponent("not-a-directory")
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let error = #expect(throws: StoreError.self) {
            try StateStore(directory: (file as NSString).appendingPathComponent("state"), maxOutboxBytes: 4096)
        }
        #expect(error?.code == .unavailable)
    }

    @Test("A start journaled before a crash is reported interrupted after it, once")
    func startSurvivesCrash() throws {
        let directory = makeStateDirectory()
        let first = try makeStore(directory: directory)
        let job = makeJob("job-1", vm: "dev", lease: fixedNow.addingTimeInterval(300))
        try first.journalClaimed([job], rejected: [], at: fixedNow)
        try first.markStarted(job.ref, at: fixedNow.addingTimeInterval(1))

        // kill -9: the first store is never closed, and the next start opens the same file.
        let second = try makeStore(directory: directory)
        #expect(try second.entry(job.ref) == .started)

        let recovery = try second.recover(now: fixedNow.addingTimeInterval(11))
        #expect(recovery.interrupted == [job.ref])
        #expect(recovery.resumable.isEmpty, "a started job is never run again")
        #expect(recovery.expired.isEmpty)
        #expect(recovery.pending.count == 1)
        let result = try #require(recovery.pending.first)
        #expect(result.ref == job.ref)
        #expect(result.type == "start_vm")
        #expect(result.status == .interrupted)
        #expect(result.error?.code == .agentRestarted)
        #expect(result.startedAt == fixedNow.addingTimeInterval(1))
        #expect(result.finishedAt == fixedNow.addingTimeInterval(11))
        #expect(result.duration == 10_000)
        #expect(try second.entry(job.ref) == .finished(result))

        let again = try second.recover(now: fixedNow.addingTimeInterval(20))
        #expect(again.interrupted.isEmpty, "an interrupted job is reported once")
        #expect(again.resumable.isEmpty)
        #expect(again.pending == [result])
        withExtendedLifetime(first) {}
    }

    @Test("A claimed job that never started is returned to run while its lease holds")
    func claimedIsResumable() throws {
        let store = try makeStore()
        let job = Job(
            id: "job-7", attempt: 2, leaseExpiresAt: fixedNow.addingTimeInterval(30), timeout: 60_000,
            parameters: .executeCommand(
                JobParameters.ExecuteCommand(
                    vmName: "dev", command: .argv(["uname", "-a"]), workdir: "/tmp", env: ["LANG": "C"])))
        try store.journalClaimed([job], rejected: [], at: fixedNow)
        #expect(try store.entry(job.ref) == .claimed)

        let recovery = try store.recover(now: fixedNow.addingTimeInterval(10))
        #expect(recovery.resumable == [job])
        #expect(recovery.expired.isEmpty)
        #expect(recovery.interrupted.isEmpty)
        #expect(recovery.pending.isEmpty)
        #expect(try store.entry(job.ref) == .claimed)
    }

    @Test("renew moves the lease that recovery judges a claimed job by")
    func renewedLeaseIsUsedByRecovery() throws {
        let store = try makeStore()
        let job = makeJob("job-1", vm: "dev", lease: fixedNow.addingTimeInterval(30))
        try store.journalClaimed([job], rejected: [], at: fixedNow)
        try store.renew([(job.ref, fixedNow.addingTimeInterval(120))])

        // Past the delivered lease, within the renewed one.
        let recovery = try store.recover(now: fixedNow.addingTimeInterval(60))
        var expected = job
        expected.leaseExpiresAt = fixedNow.addingTimeInterval(120)
        #expect(recovery.resumable == [expected])
        #expect(recovery.expired.isEmpty)

        // Renewed to an earlier time: now it has run out.
        try store.renew([(job.ref, fixedNow.addingTimeInterval(50))])
        let later = try store.recover(now: fixedNow.addingTimeInterval(60))
        #expect(later.resumable.isEmpty)
        #expect(later.expired == [job.ref])
    }

    @Test(
        "A claimed job whose lease ran out while the agent was down is forgotten",
        arguments: [-60.0, -1.0, 0.0])
    func expiredClaimIsForgotten(leaseOffset: TimeInterval) throws {
        let store = try makeStore()
        let job = makeJob("job-1", vm: "dev", lease: fixedNow.addingTimeInterval(leaseOffset))
        let kept = makeJob("job-2", vm: "dev", lease: fixedNow.addingTimeInterval(1))
        try store.journalClaimed([job, kept], rejected: [], at: fixedNow.addingTimeInterval(-120))

        let recovery = try store.recover(now: fixedNow)
        #expect(recovery.expired == [job.ref])
        #expect(recovery.resumable == [kept])
        #expect(recovery.interrupted.isEmpty)
        #expect(recovery.pending.isEmpty)
        #expect(try store.entry(job.ref) == nil)
        #expect(try store.entry(kept.ref) == .claimed)

        let again = try store.recover(now: fixedNow)
        #expect(again.expired.isEmpty)
    }

    @Test("A finished result waits in the outbox until accepted, and resend puts an accepted one back")
    func resultLifecycle() throws {
        let store = try makeStore()
        let job = makeJob("job-1", vm: "dev")
        try store.journalClaimed([job], rejected: [], at: fixedNow)
        #expect(try store.pendingResults().isEmpty)

        var result = makeResult(job, .failed)
        result.exitCode = 1
        result.stdout = "out"
        result.stderr = "err"
        result.error = WireError(code: .limactlFailed, message: "limactl exited with status 1")
        try store.finish(result, at: fixedNow)
        #expect(try store.entry(job.ref) == .finished(result))
        #expect(try store.pendingResults() == [result])

        try store.accept([job.ref], at: fixedNow)
        #expect(try store.entry(job.ref) == .accepted(result))
        #expect(try store.pendingResults().isEmpty)

        try store.resend(job.ref)
        #expect(try store.entry(job.ref) == .finished(result))
        #expect(try store.pendingResults() == [result])
    }

    @Test("accept leaves a job that has no result yet alone")
    func acceptIgnoresUnfinished() throws {
        let store = try makeStore()
        let job = makeJob("job-1", vm: "dev")
        try store.journalClaimed([job], rejected: [], at: fixedNow)
        try store.accept([job.ref, JobRef(jobId: "no-such-job", attempt: 1)], at: fixedNow)
        #expect(try store.entry(job.ref) == .claimed)
        #expect(try store.entry(JobRef(jobId: "no-such-job", attempt: 1)) == nil)
    }

    @Test("Pending results come out by finish time, then arrival, up to the limit")
    func pendingOrder() throws {
        let store = try makeStore()
        let jobs = ["j1", "j2", "j3"].map { makeJob($0, vm: nil) }
        try store.journalClaimed(jobs, rejected: [], at: fixedNow)
        let results = jobs.map { makeResult($0) }
        try store.finish(results[2], at: fixedNow.addingTimeInterval(2))
        try store.finish(results[0], at: fixedNow.addingTimeInterval(1))
        try store.finish(results[1], at: fixedNow.addingTimeInterval(2))
        #expect(try store.pendingResults() == [results[0], results[1], results[2]])
        #expect(try store.pendingResults(limit: 2) == [results[0], results[1]])
    }

    @Test("Results too big for the decoded cache, and those of a reopened store, come out the same and in order")
    func pendingPastTheCache() throws {
        let directory = makeStateDirectory()
        let store = try makeStore(directory: directory)
        let big = plainResult("big", stdout: String(repeating: "b", count: ResultCache.maxEntryBytes + 1))
        let small = [plainResult("small-1", stdout: "one"), plainResult("small-2")]
        try store.finish(small[0], at: fixedNow)
        try store.finish(big, at: fixedNow.addingTimeInterval(1))
        try store.finish(small[1], at: fixedNow.addingTimeInterval(2))
        #expect(store.results.withLock { $0.count } == 2)
        #expect(try store.pendingResults() == [small[0], big, small[1]])

        let reopened = try makeStore(directory: directory)
        #expect(reopened.results.withLock { $0.count } == 0)
        #expect(try reopened.pendingResults() == [small[0], big, small[1]])
        try reopened.accept([small[0].ref], at: fixedNow)
        try reopened.discard(big.ref, at: fixedNow)
        #expect(try reopened.pendingResults() == [small[1]])
    }

    @Test("The decoded cache keeps to its entry and byte bounds, and forgets accepted results")
    func resultCacheBounds() {
        var cache = ResultCache()
        let results = (0...ResultCache.maxEntries).map { plainResult("r\($0)") }
        for result in results { cache.insert(result, encodedBytes: 100) }
        #expect(cache.count == ResultCache.maxEntries)
        #expect(cache.result(results[ResultCache.maxEntries].ref) == nil)
        cache.remove(results[0].ref)
        #expect(cache.result(results[0].ref) == nil)
        #expect(cache.count == ResultCache.maxEntries - 1)

        var bytes = ResultCache()
        let perEntry = ResultCache.maxEntryBytes
        let fit = ResultCache.maxBytes / perEntry
        for result in results.prefix(fit + 1) { bytes.insert(result, encodedBytes: perEntry) }
        #expect(bytes.count == fit)
        bytes.insert(results[0], encodedBytes: perEntry + 1)
        #expect(bytes.result(results[0].ref) == nil)
        #expect(bytes.count == fit - 1)
    }

    @Test("A rejection is journaled finished, its result in the outbox at once")
    func rejectionIsFinished() throws {
        let store = try makeStore()
        let rejected = plainResult("bad-1")
        try store.journalClaimed([], rejected: [rejected], at: fixedNow)
        #expect(try store.entry(rejected.ref) == .finished(rejected))
        #expect(try store.pendingResults() == [rejected])
    }

    @Test("Only the newest acceptedKept accepted results are kept")
    func acceptedRetention() throws {
        let store = try makeStore()
        let count = StateStore.acceptedKept + 5
        let results = (0..<count).map { plainResult("job-\($0)") }
        try store.journalClaimed([], rejected: results, at: fixedNow)
        #expect(try store.pendingResults().count == count)

        // The last five to arrive are accepted first, so they are the oldest acceptances.
        let oldest = Array(results.suffix(5))
        let newest = Array(results.prefix(StateStore.acceptedKept))
        try store.accept(oldest.map(\.ref), at: fixedNow)
        try store.accept(newest.map(\.ref), at: fixedNow.addingTimeInterval(1))

        for result in oldest {
            #expect(try store.entry(result.ref) == nil)
        }
        let kept = try newest.filter { result in try store.entry(result.ref) == StateStore.Entry.accepted(result) }
        #expect(kept.count == StateStore.acceptedKept)
        #expect(try store.pendingResults().isEmpty)
    }

    @Test("discard takes the result out of the outbox, remembers the job and counts it")
    func discard() throws {
        let store = try makeStore()
        let refused = plainResult("bad-1")
        let other = plainResult("job-2")
        try store.finish(refused, at: fixedNow)
        try store.finish(other, at: fixedNow)
        #expect(try store.counter("discardedResults") == 0)

        try store.discard(refused.ref, at: fixedNow)
        #expect(try store.entry(refused.ref) == .discarded)
        #expect(try store.pendingResults() == [other])
        #expect(try store.counter("discardedResults") == 1)
    }
}

@Suite("StateStore: the bounded outbox of logs and metrics")
struct StateStoreOutboxTests {
    @Test("Past the bound, the oldest metrics go first, then the oldest logs, each counted")
    func boundDropsMetricsBeforeLogs() throws {
        let store = try makeStore(maxOutboxBytes: 4096)
        let logs = try (1...5).map { try paddedLog($0, bytes: 1000) }
        let metrics = try (1...3).map { try paddedSample($0, bytes: 500) }

        try store.enqueueLogs(Array(logs[0...1]))
        try store.enqueueMetrics(metrics)
        #expect(try store.outboxBytes() == 3500)
        #expect(try store.counter("droppedMetrics") == 0)

        // 4500 bytes: the oldest sample goes.
        try store.enqueueLogs([logs[2]])
        #expect(try store.pendingMetrics(limit: 10).map(\.sample) == Array(metrics[1...2]))
        #expect(try store.pendingLogs(limit: 10).map(\.chunk) == Array(logs[0...2]))
        #expect(try store.counter("droppedMetrics") == 1)
        #expect(try store.counter("droppedLogs") == 0)
        #expect(try store.outboxBytes() == 4000)

        // 5000 bytes: both samples left go before any log.
        try store.enqueueLogs([logs[3]])
        #expect(try store.pendingMetrics(limit: 10).isEmpty)
        #expect(try store.pendingLogs(limit: 10).map(\.chunk) == Array(logs[0...3]))
        #expect(try store.counter("droppedMetrics") == 3)
        #expect(try store.counter("droppedLogs") == 0)

        // 5000 bytes and no metrics left: the oldest log goes.
        try store.enqueueLogs([logs[4]])
        #expect(try store.pendingLogs(limit: 10).map(\.chunk) == Array(logs[1...4]))
        #expect(try store.counter("droppedMetrics") == 3)
        #expect(try store.counter("droppedLogs") == 1)
        #expect(try store.outboxBytes() == 4000)
        #expect(try store.outboxBytes() <= store.maxOutboxBytes)
    }

    @Test("A batch enqueued past the bound is trimmed from its oldest end")
    func boundAppliesToOneBigBatch() throws {
        let store = try makeStore(maxOutboxBytes: 4096)
        let logs = try (1...6).map { try paddedLog($0, bytes: 1000) }
        try store.enqueueLogs(logs)
        #expect(try store.pendingLogs(limit: 10).map(\.chunk) == Array(logs[2...5]))
        #expect(try store.counter("droppedLogs") == 2)
        #expect(try store.outboxBytes() <= 4096)
    }

    @Test("Results count toward the bound but are never dropped")
    func resultsAreNeverDropped() throws {
        let store = try makeStore(maxOutboxBytes: 4096)
        let results = (1...3).map { plainResult("job-\($0)", stdout: String(repeating: "o", count: 2000)) }
        for result in results {
            try store.finish(result, at: fixedNow)
        }
        #expect(try store.outboxBytes() > 4096)

        try store.enqueueMetrics([try paddedSample(1, bytes: 200)])
        try store.enqueueLogs([try paddedLog(1, bytes: 200)])
        #expect(try store.pendingResults() == results)
        #expect(try store.pendingCount(.logs) == 0)
        #expect(try store.pendingCount(.metrics) == 0)
        #expect(try store.counter("droppedLogs") == 1)
        #expect(try store.counter("droppedMetrics") == 1)
    }

    @Test("Logs go out in order and leave when removed; a discarded one is counted")
    func logsRoundTrip() throws {
        let store = try makeStore()
        let chunks = (1...3).map { seq in
            LogChunk(jobId: "job-1", seq: seq, stream: .stdout, at: fixedNow, text: "line \(seq)\n")
        }
        try store.enqueueLogs(chunks)
        #expect(try store.pendingCount(.logs) == 3)
        #expect(try store.pendingCount(.metrics) == 0)

        let firstTwo = try store.pendingLogs(limit: 2)
        #expect(firstTwo.map(\.chunk) == Array(chunks.prefix(2)))
        try store.remove(firstTwo.map(\.seq), from: .logs)
        #expect(try store.pendingLogs(limit: 10).map(\.chunk) == [chunks[2]])
        #expect(try store.pendingCount(.logs) == 1)
        #expect(try store.counter("discardedLogs") == 0)

        try store.remove(try store.pendingLogs(limit: 10).map(\.seq), from: .logs, discarded: true)
        #expect(try store.pendingCount(.logs) == 0)
        #expect(try store.counter("discardedLogs") == 1)
        #expect(try store.outboxBytes() == 0)
    }

    @Test("Metrics go out in order and leave when removed; a discarded one is counted")
    func metricsRoundTrip() throws {
        let store = try makeStore()
        let samples = [
            MetricsSample(
                at: fixedNow,
                system: MetricsSample.System(
                    cpuPercent: 12.5, load1: 0.75,
                    memory: MemoryUsage(totalBytes: 17_179_869_184, usedBytes: 8_589_934_592),
                    disk: DiskUsage(path: "/", totalBytes: 500_000_000_000, usedBytes: 123_456_789_012),
                    network: MetricsSample.Network(rxBytes: 1000, txBytes: 2000))),
            MetricsSample(
                at: fixedNow.addingTimeInterval(15), vms: [MetricsSample.VM(name: "dev", status: "Running")],
                operations: ["create_vm": MetricsSample.Operation(succeeded: 3, failed: 1, p50: 1200, p99: 4000)]),
        ]
        try store.enqueueMetrics(samples)
        #expect(try store.pendingCount(.metrics) == 2)
        let pending = try store.pendingMetrics(limit: 10)
        try #require(pending.count == 2)
        #expect(pending.map(\.sample) == samples)

        try store.remove([pending[0].seq], from: .metrics)
        #expect(try store.pendingMetrics(limit: 10).map(\.sample) == [samples[1]])
        try store.remove([pending[1].seq], from: .metrics, discarded: true)
        #expect(try store.pendingCount(.metrics) == 0)
        #expect(try store.counter("discardedMetrics") == 1)
    }
}

@Suite("AgentLock")
struct AgentLockTests {
    @Test("A second lock on the same state directory fails while the first is held, and succeeds after")
    func exclusive() throws {
        let directory = makeStateDirectory()
        do {
            let first = try AgentLock(directory: directory)
            let error = #expect(throws: StoreError.self) {
                try AgentLock(directory: directory)
            }
            #expect(error?.code == .locked)
            withExtendedLifetime(first) {}
        }
        // The first lock is gone with its owner.
        let again = try AgentLock(directory: directory)
        withExtendedLifetime(again) {}
    }

    @Test("Locks on different state directories do not conflict")
    func independentDirectories() throws {
        let first = try AgentLock(directory: makeStateDirectory())
        let second = try AgentLock(directory: makeStateDirectory())
        withExtendedLifetime((first, second)) {}
    }
}
