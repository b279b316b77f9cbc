import Models

/// The items of one report: results, log chunks and metrics samples, each with
/// the key that identifies it in the outbox.
public struct ReportBatch: Sendable {
    public enum Key: Sendable, Hashable {
        case result(JobRef)
        case log(Int64)
        case metric(Int64)
    }

    public var results: [JobResult] = []
    public var logs: [(seq: Int64, chunk: LogChunk)] = []
    public var metrics: [(seq: Int64, sample: MetricsSample)] = []

    public init(
        results: [JobResult] = [], logs: [(seq: Int64, chunk: LogChunk)] = [],
        metrics: [(seq: Int64, sample: MetricsSample)] = []
    ) {
        self.results = results
        self.logs = logs
        self.metrics = metrics
    }

    public var count: Int { results.count + logs.count + metrics.count }
    public var isEmpty: Bool { count == 0 }

    /// Every item's key, results first, then logs, then metrics.
    public var keys: [Key] {
        results.map { .result($0.ref) } + logs.map { .log($0.seq) } + metrics.map { .metric($0.seq) }
    }

    /// The items whose keys pass `keep`, in the same order.
    public func filter(_ keep: (Key) -> Bool) -> ReportBatch {
        ReportBatch(
            results: results.filter { keep(.result($0.ref)) }, logs: logs.filter { keep(.log($0.seq)) },
            metrics: metrics.filter { keep(.metric($0.seq)) })
    }

    /// The first `limit` items, results first.
    public func prefix(_ limit: Int) -> ReportBatch {
        let keys = Set(self.keys.prefix(max(0, limit)))
        return filter { keys.contains($0) }
    }
}
