import Foundation

/// `POST /v1/agents/{agentId}/report` body (§5), sent with `Idempotency-Key: <batchId>`.
/// Every section is optional.
public struct Report: Codable, Sendable, Equatable {
    public var batchId: String
    public var sentAt: Date
    public var heartbeat: Heartbeat?
    public var results: [JobResult]?
    public var logs: [LogChunk]?
    public var metrics: [MetricsSample]?

    public init(
        batchId: String, sentAt: Date, heartbeat: Heartbeat? = nil, results: [JobResult]? = nil,
        logs: [LogChunk]? = nil, metrics: [MetricsSample]? = nil
    ) {
        self.batchId = batchId
        self.sentAt = sentAt
        self.heartbeat = heartbeat
        self.results = results
        self.logs = logs
        self.metrics = metrics
    }
}
