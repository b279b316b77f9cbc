/// The host's aggregate CPU time counters from the `cpu ` line of `/proc/stat`, in clock
/// ticks since boot.
public struct CPUTimes: Sendable, Equatable {
    /// Ticks spent doing work: user, nice, system, irq, softirq and steal.
    public var busy: UInt64
    /// Busy ticks plus idle and iowait.
    public var total: UInt64

    public init(busy: UInt64, total: UInt64) {
        self.busy = busy
        self.total = total
    }

    /// The counters of the aggregate `cpu ` line (`cpu  user nice system idle iowait irq softirq
    /// steal guest guest_nice`), or nil when there is none or it does not parse.
    ///
    /// idle and iowait count as idle. guest and guest_nice are left out: the kernel already
    /// counts them in user and nice. Kernels older than 2.6 print only the first four fields,
    /// which is enough.
    public static func parse(procStat: String) -> CPUTimes? {
        for line in procStat.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.first == "cpu" else { continue }
            var counters: [UInt64] = []
            for field in fields.dropFirst().prefix(8) {
                guard let value = UInt64(field) else { return nil }
                counters.append(value)
            }
            guard counters.count >= 4 else { return nil }
            guard let total = sum(counters) else { return nil }
            guard let idle = sum(counters[3..<min(5, counters.count)]) else { return nil }
            return CPUTimes(busy: total - idle, total: total)
        }
        return nil
    }

    /// The busy share of the time between two readings, in percent (0...100). 0 when no time
    /// passed, or when the counters went backwards (they never do short of a reboot).
    public static func percent(from earlier: CPUTimes, to later: CPUTimes) -> Double {
        guard later.total > earlier.total else { return 0 }
        let total = later.total - earlier.total
        let busy = later.busy > earlier.busy ? later.busy - earlier.busy : 0
        return min(100, Double(busy) / Double(total) * 100)
    }

    /// The sum of `values`, or nil if it overflows.
    private static func sum(_ values: some Sequence<UInt64>) -> UInt64? {
        var total: UInt64 = 0
        for value in values {
            let (next, overflow) = total.addingReportingOverflow(value)
            if overflow { return nil }
            total = next
        }
        return total
    }
}
