import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One process's CPU time and resident memory, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
public struct ProcessStats: Sendable, Equatable {
    /// User plus system CPU time since the process started, in clock ticks (`utime + stime`).
    public var cpuTicks: UInt64
    /// Resident set size in bytes (`VmRSS`); 0 when the status has none (a zombie, a kernel thread).
    public var rssBytes: Int64

    public init(cpuTicks: UInt64, rssBytes: Int64) {
        self.cpuTicks = cpuTicks
        self.rssBytes = rssBytes
    }

    /// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux); 100 if
    /// sysconf fails.
    public static var ticksPerSecond: Int {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? ticks : 100
    }

    /// The figures of one process, or nil when `stat` does not parse.
    ///
    /// `stat` is `pid (comm) state ppid …`; comm is the executable name, and may hold spaces
    /// and parentheses (`(my (odd) proc)`), so fields are counted after the **last** `)`.
    /// utime and stime are fields 14 and 15, counting pid as 1. RSS is the `VmRSS:` line of
    /// `status`, in kB.
    public static func parse(stat: String, status: String) -> ProcessStats? {
        guard let paren = stat.lastIndex(of: ")") else { return nil }
        // After the `)`: field 3 (state) is at index 0, so field N is at index N − 3.
        let fields = stat[stat.index(after: paren)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count > 12, let utime = UInt64(fields[11]), let stime = UInt64(fields[12]) else { return nil }
        let (ticks, overflow) = utime.addingReportingOverflow(stime)
        guard !overflow else { return nil }
        return ProcessStats(cpuTicks: ticks, rssBytes: residentBytes(status: status))
    }

    /// The CPU used between two readings `elapsed` apart, in percent of one CPU: a process
    /// keeping two cores busy shows 200, as `top` does. 0 when no time passed or the ticks went
    /// backwards (the pid now belongs to another process).
    public static func percent(
        from earlier: ProcessStats, to later: ProcessStats, elapsed: Duration, ticksPerSecond: Int
    ) -> Double {
        let (wholeSeconds, attoseconds) = elapsed.components
        let seconds = Double(wholeSeconds) + Double(attoseconds) / 1e18
        guard seconds > 0, ticksPerSecond > 0, later.cpuTicks > earlier.cpuTicks else { return 0 }
        return Double(later.cpuTicks - earlier.cpuTicks) / Double(ticksPerSecond) / seconds * 100
    }

    /// The `VmRSS:` value of a status text in bytes, 0 when absent.
    private static func residentBytes(status: String) -> Int64 {
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, let kilobytes = Int64(first), kilobytes >= 0 else { return 0 }
            let (bytes, overflow) = kilobytes.multipliedReportingOverflow(by: 1024)
            return overflow ? Int64.max : bytes
        }
        return 0
    }
}
