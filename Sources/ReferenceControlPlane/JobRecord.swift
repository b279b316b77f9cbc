import Foundation
import Models

/// One job as the reference control plane tracks it. The job itself stays raw JSON,
/// never validated: tests enqueue malformed jobs on purpose. Codable for `--state-file`.
struct JobRecord: Codable, Sendable {
    enum State: String, Codable, Sendable { case queued, leased, finished }

    let id: String
    /// The job object as enqueued, with `attempt` and `leaseExpiresAt` as last handed out.
    var raw: [String: JSONValue]
    var state = State.queued
    var attempt = 1
    var agentId: String?
    var leaseExpiresAt: Date?
    var deliveries = 0
    /// The first result recorded for each attempt, in arrival order.
    var results: [JobResult] = []
    /// Result copies received, duplicates included.
    var resultCount = 0
    var cancelRequested = false

    init(id: String, raw: [String: JSONValue]) {
        self.id = id
        self.raw = raw
    }

    /// The job's `type` as enqueued, for synthesized results.
    var type: String {
        if case .string(let type)? = raw["type"] { return type }
        return "unknown"
    }

    /// The first result for the current attempt, else the first result of any attempt.
    var shownResult: JobResult? {
        results.first { $0.attempt == attempt } ?? results.first
    }

    /// Leases the job to `agent` and returns the object to send in a claim reply.
    mutating func lease(to agent: String, until expiry: Date) -> JSONValue {
        state = .leased
        agentId = agent
        deliveries += 1
        setLease(expiry)
        raw["attempt"] = .int(Int64(attempt))
        return .object(raw)
    }

    mutating func setLease(_ expiry: Date) {
        leaseExpiresAt = expiry
        raw["leaseExpiresAt"] = .string(RFC3339.format(expiry))
    }

    mutating func requeue(attempt newAttempt: Int) {
        state = .queued
        attempt = newAttempt
        agentId = nil
        leaseExpiresAt = nil
    }

    mutating func finish(by agent: String?) {
        state = .finished
        agentId = agent
        leaseExpiresAt = nil
    }

    func isLeased(to agent: String) -> Bool { state == .leased && agentId == agent }

    /// The JOBSTATE object of the admin API. `resultCount` counts every copy received,
    /// duplicates included; `recordedResults` counts the distinct (jobId, attempt) results
    /// recorded, which `results` lists in arrival order; `result` is `shownResult`.
    func view() -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id),
            "state": .string(state.rawValue),
            "attempt": .int(Int64(attempt)),
            "deliveries": .int(Int64(deliveries)),
            "resultCount": .int(Int64(resultCount)),
            "recordedResults": .int(Int64(results.count)),
            "results": .array(results.compactMap { try? JSONValue(encoding: $0) }),
            "job": .object(raw),
            "cancelRequested": .bool(cancelRequested),
        ]
        if state != .queued, let agentId { object["agentId"] = .string(agentId) }
        if let leaseExpiresAt { object["leaseExpiresAt"] = .string(RFC3339.format(leaseExpiresAt)) }
        if let result = shownResult, let value = try? JSONValue(encoding: result) { object["result"] = value }
        return .object(object)
    }
}
