import Foundation
import Models

/// The reference control plane's whole state, in memory: the job queue, leases,
/// agents, results, logs, metrics and injected faults. Development and tests only.
///
/// Waiting (long-poll claims, `/admin/wait`) suspends on continuations that every
/// state change resumes; nothing polls.
///
/// With `--state-file`, the state is loaded at start (`init(restoring:)`) and saved by
/// `shutDown(savingTo:)`; from then on it is frozen: whatever would change it is answered
/// `503` (`APIError.shuttingDown`), so nothing is acknowledged that the file does not hold.
actor ControlPlane {
    static let maxLogs = 10_000
    static let maxMetrics = 1_000
    static let maxRememberedBatches = 10_000

    private let leaseMs: Int
    private let maxWaitMs: Int
    private let registrationReply: RegistrationReply

    private var jobs: [String: JobRecord] = [:]
    private var jobOrder: [String] = []
    /// Each job's index in `jobOrder`.
    private var position: [String: Int] = [:]
    /// The leased jobs' ids and the count of unfinished jobs, kept by `store`: lease
    /// expiry, lost-claim recovery and `/admin/wait` look at these, not at every job (the
    /// benchmarks queue thousands, on the same cores as the agent they measure).
    private var leasedIds: Set<String> = []
    private var unfinished = 0
    /// `CLOCK_REALTIME` in ns when the last job became finished (`/admin/wait`); 0 until
    /// one does in this run (a restored state does not carry it).
    private var lastFinishedAtNs: Int64 = 0
    private var queue: [String] = []
    private var nextJobNumber = 1
    private var agents: [String: AgentRecord] = [:]
    private var recordedRefs: Set<JobRef> = []
    private var logs: [LogChunk] = []
    private var metrics: [MetricsSample] = []
    private var counters: [String: Int] = [:]
    private var requestCounts: [String: Int] = ["register": 0, "claim": 0, "report": 0]
    private var batchReplies: [String: ReportReply] = [:]
    private var batchOrder: [String] = []
    private var faults: [FaultRule] = []
    /// Applied faults per `FaultKind` name.
    private var faultCounts: [String: Int] = [:]
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    /// Claims held open right now (`claimsWaiting` in `GET /admin/stats`).
    private var claimsWaiting = 0
    private var nextWaiterID = 0
    private var leaseTimer: Task<Void, Never>?
    /// Set on SIGTERM/SIGINT: every wait ends at once so open requests are answered.
    private(set) var isShuttingDown = false
    /// Set once the state is saved for shutdown: nothing may change it any more.
    private var isFrozen = false

    /// A fresh control plane, or, given `state` (read from `--state-file`), the one that
    /// saved it. Leases that ran out meanwhile are taken back by the lease timer.
    init(
        leaseMs: Int, maxWaitMs: Int, registrationReply: RegistrationReply, restoring state: ControlPlaneState? = nil
    ) {
        self.leaseMs = leaseMs
        self.maxWaitMs = maxWaitMs
        self.registrationReply = registrationReply
        if let state {
            jobs = state.jobs
            jobOrder = state.jobOrder
            queue = state.queue
            nextJobNumber = state.nextJobNumber
            agents = state.agents
            recordedRefs = Set(state.recordedRefs)
            logs = state.logs
            metrics = state.metrics
            counters = state.counters
            requestCounts = state.requestCounts
            faultCounts = state.faultCounts
            batchReplies = state.batchReplies
            batchOrder = state.batchOrder
            faults = state.faults
        }
        for (index, id) in jobOrder.enumerated() { position[id] = index }
        leasedIds = Set(jobs.values.filter { $0.state == .leased }.map(\.id))
        unfinished = jobs.values.filter { $0.state != .finished }.count
    }

    // MARK: - Agent API

    /// Counts an agent request and returns the fault to apply to it: the first rule that
    /// matches `probe` and wins its draw (`fraction`), its `count` then decremented.
    /// Nothing once the state is frozen (the request then gets a 503).
    func admit(_ probe: FaultProbe) -> FaultRule? {
        guard !isFrozen else { return nil }
        requestCounts[probe.call, default: 0] += 1
        for index in faults.indices where faults[index].matches(probe) {
            guard Double.random(in: 0..<1) < faults[index].fraction else { continue }
            faults[index].count -= 1
            faults[index].applied += 1
            faultCounts[faults[index].kind.rawValue, default: 0] += 1
            return faults[index]
        }
        return nil
    }

    /// Whether a fault rule with faults left has a `jobId` condition, so report bodies
    /// must be searched for result job ids (`FaultProbe`).
    func faultsInspectResults() -> Bool {
        faults.contains { $0.count > 0 && $0.jobId != nil }
    }

    func register(agentId: String, registration: Registration) throws -> RegistrationReply {
        try ensureWritable()
        var agent = agents[agentId] ?? AgentRecord(registration: registration)
        agent.registration = registration
        agent.registrations += 1
        agent.known = true
        agents[agentId] = agent
        return registrationReply
    }

    func claim(agentId: String, request: ClaimRequest) async throws -> ClaimReply {
        try ensureWritable()
        guard agents[agentId]?.known == true else { throw APIError.unknownAgent(agentId) }
        guard request.capacity >= 1 else { throw APIError.badRequest("capacity must be 1 or more") }
        agents[agentId]?.draining = request.draining
        expireLeases()
        recoverLostClaims(agentId: agentId, held: Set(request.held.map(\.jobId)))
        var handedOut = handOut(to: agentId, capacity: request.capacity)
        let wait = min(max(request.wait, 0), maxWaitMs)
        if handedOut.isEmpty, wait > 0 {
            claimsWaiting += 1
            defer { claimsWaiting -= 1 }
            let deadline = Date().addingTimeInterval(Double(wait) / 1000)
            while handedOut.isEmpty, Date() < deadline, !isShuttingDown, !Task.isCancelled {
                await waitForChange(until: deadline)
                // Woken by shutdown: answer empty, leasing nothing the saved state does not know.
                guard !isShuttingDown, agents[agentId]?.known == true else { break }
                handedOut = handOut(to: agentId, capacity: request.capacity)
            }
        }
        return ClaimReply(jobs: handedOut)
    }

    func report(agentId: String, report: Report) throws -> ReportReply {
        try ensureWritable()
        guard agents[agentId]?.known == true else { throw APIError.unknownAgent(agentId) }
        let batchKey = agentId + "\n" + report.batchId
        if let previous = batchReplies[batchKey] { return previous }
        expireLeases()

        var accepted: [String] = []
        for result in report.results ?? [] {
            record(result, from: agentId)
            if !accepted.contains(result.jobId) { accepted.append(result.jobId) }
        }

        var leases: [ReportReply.Lease] = []
        if let heartbeat = report.heartbeat {
            agents[agentId]?.lastHeartbeat = heartbeat
            agents[agentId]?.draining = heartbeat.state != .running
            let expiry = leaseExpiry()
            for jobId in Set(heartbeat.held.map(\.jobId)).sorted() {
                guard var job = jobs[jobId], job.isLeased(to: agentId) else { continue }
                job.setLease(expiry)
                store(job)
                leases.append(ReportReply.Lease(jobId: jobId, leaseExpiresAt: expiry))
            }
        }
        let cancel = inOrder(
            leasedIds.filter { jobs[$0].map { $0.isLeased(to: agentId) && $0.cancelRequested } ?? false })

        if let chunks = report.logs, !chunks.isEmpty {
            logs.append(contentsOf: chunks)
            if logs.count > Self.maxLogs { logs.removeFirst(logs.count - Self.maxLogs) }
            counters["logs", default: 0] += chunks.count
        }
        if let samples = report.metrics, !samples.isEmpty {
            metrics.append(contentsOf: samples)
            if metrics.count > Self.maxMetrics { metrics.removeFirst(metrics.count - Self.maxMetrics) }
            counters["metrics", default: 0] += samples.count
        }

        let reply = ReportReply(accepted: accepted, leases: leases, cancel: cancel)
        batchReplies[batchKey] = reply
        batchOrder.append(batchKey)
        counters["batches", default: 0] += 1
        if batchOrder.count > Self.maxRememberedBatches {
            let oldest = batchOrder.removeFirst()
            batchReplies[oldest] = nil
        }
        notifyAll()
        return reply
    }

    // MARK: - Admin API

    /// Queues the jobs; returns their ids and the wall clock (ns since the epoch) at the
    /// moment they joined the queue, which the pickup benchmark measures from.
    func enqueue(_ objects: [[String: JSONValue]]) throws -> (ids: [String], queuedAtNs: Int64) {
        try ensureWritable()
        var accepted: [(id: String, raw: [String: JSONValue])] = []
        var seen: Set<String> = []
        for var object in objects {
            let id: String
            if case .string(let given)? = object["id"] {
                id = given
            } else {
                id = freeJobID(excluding: seen)
                // A present but ill-typed id goes out as it is: the agent must reject it.
                if object["id"] == nil { object["id"] = .string(id) }
            }
            guard jobs[id] == nil, seen.insert(id).inserted else {
                throw APIError(status: 409, code: "conflict", message: "a job with id \(id) already exists")
            }
            accepted.append((id, object))
        }
        for (id, raw) in accepted {
            store(JobRecord(id: id, raw: raw))
            position[id] = jobOrder.count
            jobOrder.append(id)
            queue.append(id)
        }
        let queuedAtNs = Self.realtimeNanoseconds()
        notifyAll()
        return (accepted.map(\.id), queuedAtNs)
    }

    func jobViews() -> [JSONValue] {
        jobOrder.compactMap { jobs[$0]?.view() }
    }

    func jobView(_ id: String) throws -> JSONValue {
        guard let job = jobs[id] else { throw APIError.notFound("no job \(id)") }
        return job.view()
    }

    func cancel(jobId: String) throws -> JSONValue {
        try ensureWritable()
        guard var job = jobs[jobId] else { throw APIError.notFound("no job \(jobId)") }
        switch job.state {
        case .queued:
            queue.removeAll { $0 == jobId }
            let now = Date()
            let result = JobResult(
                jobId: jobId, attempt: job.attempt, type: job.type, status: .cancelled, startedAt: now,
                finishedAt: now, duration: 0,
                error: WireError(code: .cancelled, message: "cancelled by the control plane before delivery"))
            recordedRefs.insert(result.ref)
            job.results.append(result)
            job.cancelRequested = true
            job.finish(by: nil)
        case .leased:
            job.cancelRequested = true
        case .finished:
            break
        }
        store(job)
        notifyAll()
        return job.view()
    }

    func redeliver(jobId: String, sameAttempt: Bool) throws -> JSONValue {
        try ensureWritable()
        guard var job = jobs[jobId] else { throw APIError.notFound("no job \(jobId)") }
        let wasQueued = job.state == .queued
        job.requeue(attempt: sameAttempt ? job.attempt : job.attempt + 1)
        store(job)
        if !wasQueued { queue.append(jobId) }
        notifyAll()
        return job.view()
    }

    /// Waits until every job is finished or `timeoutMs` passes. The reply: whether they
    /// are, when the last one finished (`CLOCK_REALTIME` ns, 0 before any in this run) and, when
    /// `views` is set, every job's view.
    func waitUntilAllFinished(timeoutMs: Int, views: Bool) async -> (
        done: Bool, lastFinishedAtNs: Int64, jobs: [JSONValue]?
    ) {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while unfinished > 0, Date() < deadline, !isShuttingDown, !Task.isCancelled {
            await waitForChange(until: deadline)
        }
        return (unfinished == 0, lastFinishedAtNs, views ? jobViews() : nil)
    }

    /// `GET /admin/stats`; `faults` counts the faults applied per kind.
    func stats() -> JSONValue {
        var faultsApplied: [String: JSONValue] = [:]
        for kind in FaultKind.allCases {
            faultsApplied[kind.rawValue] = .int(Int64(faultCounts[kind.rawValue, default: 0]))
        }
        return .object([
            "requests": .object(requestCounts.mapValues { .int(Int64($0)) }),
            "agents": .object(agents.mapValues { $0.view() }),
            "results": .int(Int64(counters["results", default: 0])),
            "duplicateResults": .int(Int64(counters["duplicateResults", default: 0])),
            "logs": .int(Int64(counters["logs", default: 0])),
            "metrics": .int(Int64(counters["metrics", default: 0])),
            "batches": .int(Int64(counters["batches", default: 0])),
            "queued": .int(Int64(queue.count)),
            "claimsWaiting": .int(Int64(claimsWaiting)),
            "faults": .object(faultsApplied),
        ])
    }

    /// The metrics samples received, oldest first (the newest `maxMetrics`).
    func metricsSamples() -> [MetricsSample] { metrics }

    func logChunks(jobId: String?) -> [LogChunk] {
        guard let jobId else { return logs }
        return logs.filter { $0.jobId == jobId }
    }

    func forget(agentId: String) throws {
        try ensureWritable()
        guard agents[agentId] != nil else { throw APIError.notFound("no agent \(agentId)") }
        agents[agentId]?.known = false
        notifyAll()
    }

    /// Queues a fault rule after the others and returns how many faults are now pending.
    func addFault(_ rule: FaultRule) throws -> Int {
        try ensureWritable()
        faults.append(rule)
        return pendingFaults
    }

    /// Every fault rule in the order added (used-up ones too) and the pending total.
    func faultRules() -> (rules: [FaultRule], pending: Int) {
        (faults, pendingFaults)
    }

    /// Removes every fault rule; the applied totals of `stats` stay.
    /// Removes every fault rule, or only those answering `status`.
    func clearFaults(status: Int? = nil) throws {
        try ensureWritable()
        if let status {
            faults.removeAll { $0.status == status }
        } else {
            faults.removeAll()
        }
    }

    /// Ends every wait now and from now on, and stops the lease timer. Given `statePath`,
    /// also saves the whole state there (atomically) and freezes it, in this one actor
    /// turn: the woken waiters run only afterwards and find it frozen. The state is frozen
    /// even when the write fails.
    func shutDown(savingTo statePath: String? = nil) throws {
        isShuttingDown = true
        leaseTimer?.cancel()
        notifyAll()
        guard let statePath else { return }
        isFrozen = true
        try snapshot().write(to: statePath)
    }

    // MARK: - Leases

    /// Starts the 100 ms timer that takes back jobs whose lease ran out.
    func startLeaseTimer() {
        guard leaseTimer == nil else { return }
        leaseTimer = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                guard let self else { return }
                await self.expireLeases()
            }
        }
    }

    /// Puts every leased, unfinished job whose lease has passed back at the front of
    /// the queue with the next attempt number. Not once the state is frozen.
    func expireLeases() {
        guard !isFrozen else { return }
        let now = Date()
        let expired = inOrder(leasedIds.filter { jobs[$0]?.leaseExpiresAt.map { $0 <= now } ?? false })
        guard !expired.isEmpty else { return }
        for id in expired {
            guard var job = jobs[id] else { continue }
            job.requeue(attempt: job.attempt + 1)
            store(job)
        }
        queue.insert(contentsOf: expired, at: 0)
        notifyAll()
    }

    // MARK: - Internals

    /// Records `job`, keeping `leasedIds`, `unfinished` and `lastFinishedAtNs` in step.
    private func store(_ job: JobRecord) {
        let before = jobs.updateValue(job, forKey: job.id)?.state
        guard before != job.state else { return }
        if before == .leased { leasedIds.remove(job.id) }
        if job.state == .leased { leasedIds.insert(job.id) }
        if before == nil || before == .finished { unfinished += 1 }
        if job.state == .finished {
            unfinished -= 1
            lastFinishedAtNs = Self.realtimeNanoseconds()
        }
    }

    /// `ids` in the order their jobs were queued.
    private func inOrder(_ ids: some Sequence<String>) -> [String] {
        ids.sorted { (position[$0] ?? Int.max) < (position[$1] ?? Int.max) }
    }

    private static func realtimeNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    private var pendingFaults: Int { faults.reduce(0) { $0 + $1.count } }

    private func ensureWritable() throws {
        if isFrozen { throw APIError.shuttingDown }
    }

    /// The whole state, for `--state-file`.
    private func snapshot() -> ControlPlaneState {
        ControlPlaneState(
            savedAt: Date(), jobs: jobs, jobOrder: jobOrder, queue: queue, nextJobNumber: nextJobNumber,
            agents: agents,
            recordedRefs: recordedRefs.sorted { ($0.jobId, $0.attempt) < ($1.jobId, $1.attempt) },
            logs: logs, metrics: metrics, counters: counters, requestCounts: requestCounts,
            faultCounts: faultCounts, batchReplies: batchReplies, batchOrder: batchOrder, faults: faults)
    }

    private func leaseExpiry() -> Date {
        let nowMs = (Date().timeIntervalSince1970 * 1000).rounded(.down)
        return Date(timeIntervalSince1970: (nowMs + Double(leaseMs)) / 1000)
    }

    /// §4: a job leased to this agent, unfinished and not in `held`, never reached it.
    private func recoverLostClaims(agentId: String, held: Set<String>) {
        let lost = inOrder(
            leasedIds.filter { id in !held.contains(id) && (jobs[id]?.isLeased(to: agentId) ?? false) })
        guard !lost.isEmpty else { return }
        for id in lost {
            guard var job = jobs[id] else { continue }
            job.requeue(attempt: job.attempt)  // it never reached the agent: same attempt
            store(job)
        }
        queue.insert(contentsOf: lost, at: 0)
    }

    private func handOut(to agentId: String, capacity: Int) -> [JSONValue] {
        var handedOut: [JSONValue] = []
        let expiry = leaseExpiry()
        while handedOut.count < capacity, !queue.isEmpty {
            let id = queue.removeFirst()
            guard var job = jobs[id], job.state == .queued else { continue }
            handedOut.append(job.lease(to: agentId, until: expiry))
            store(job)
        }
        return handedOut
    }

    private func record(_ result: JobResult, from agentId: String) {
        let isFirstCopy = recordedRefs.insert(result.ref).inserted
        counters[isFirstCopy ? "results" : "duplicateResults", default: 0] += 1
        guard var job = jobs[result.jobId] else { return }
        job.resultCount += 1
        if isFirstCopy { job.results.append(result) }
        if result.attempt == job.attempt || job.state != .finished {
            if job.state == .queued { queue.removeAll { $0 == job.id } }
            job.finish(by: agentId)
        }
        store(job)
    }

    private func freeJobID(excluding taken: Set<String>) -> String {
        while jobs["job-\(nextJobNumber)"] != nil || taken.contains("job-\(nextJobNumber)") {
            nextJobNumber += 1
        }
        defer { nextJobNumber += 1 }
        return "job-\(nextJobNumber)"
    }

    /// Suspends until some state changes (`notifyAll`), `deadline` passes or the task is cancelled.
    private func waitForChange(until deadline: Date) async {
        let delay = deadline.timeIntervalSinceNow
        guard delay > 0 else { return }
        let id = nextWaiterID
        nextWaiterID += 1
        let timer = Task {
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000) + 1))
            self.wake(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters[id] = continuation
            }
        } onCancel: {
            Task { await self.wake(id) }
        }
        timer.cancel()
    }

    private func wake(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }

    private func notifyAll() {
        let waiting = waiters
        waiters.removeAll()
        for continuation in waiting.values { continuation.resume() }
    }
}
