import Models

/// Counts of finished jobs by type and status, and their durations for p50/p99
/// (the `operations` of a metrics sample, §5.3). Counts run from the agent's
/// start; percentiles cover the newest `window` durations of each type.
public actor OperationStats {
    private struct PerType {
        var statuses: [String: Int] = [:]
        var durations: [Int] = []
    }

    private let window: Int
    private var types: [String: PerType] = [:]

    public init(window: Int = 1024) { self.window = window }

    public func record(_ result: JobResult) {
        var entry = types[result.type] ?? PerType()
        entry.statuses[result.status.rawValue, default: 0] += 1
        entry.durations.append(result.duration ?? 0)
        if entry.durations.count > window { entry.durations.removeFirst(entry.durations.count - window) }
        types[result.type] = entry
    }

    public func snapshot() -> [String: MetricsSample.Operation] {
        types.mapValues { entry in
            let sorted = entry.durations.sorted()
            let succeeded = entry.statuses[ResultStatus.succeeded.rawValue] ?? 0
            let all = entry.statuses.values.reduce(0, +)
            return MetricsSample.Operation(
                succeeded: succeeded, failed: all - succeeded, p50: Self.percentile(sorted, 0.50),
                p99: Self.percentile(sorted, 0.99), statuses: entry.statuses)
        }
    }

    /// The nearest-rank percentile of sorted values (0 when there are none).
    static func percentile(_ sorted: [Int], _ fraction: Double) -> Int {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }
}
