import Models

/// Host memory from `/proc/meminfo`.
public enum MemInfo {
    /// Total and used memory in bytes: total is `MemTotal`, used is `MemTotal − MemAvailable`.
    /// Kernels older than 3.14 have no `MemAvailable`; then `MemFree + Buffers + Cached` stands
    /// in for it. nil without `MemTotal`, or without both `MemAvailable` and `MemFree`.
    public static func parse(meminfo: String) -> MemoryUsage? {
        var values: [Substring: Int64] = [:]
        for line in meminfo.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, let number = Int64(first), number >= 0 else { continue }
            // Sizes are in kB (KiB); counts such as HugePages_Total have no unit.
            let multiplier: Int64 = fields.dropFirst().first == "kB" ? 1024 : 1
            let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
            values[line[..<colon]] = overflow ? Int64.max : bytes
        }
        guard let total = values["MemTotal"] else { return nil }
        let available: Int64
        if let reported = values["MemAvailable"] {
            available = reported
        } else if let free = values["MemFree"] {
            let (partial, overflow1) = free.addingReportingOverflow(values["Buffers"] ?? 0)
            let (sum, overflow2) = partial.addingReportingOverflow(values["Cached"] ?? 0)
            available = overflow1 || overflow2 ? Int64.max : sum
        } else {
            return nil
        }
        return MemoryUsage(totalBytes: total, usedBytes: max(0, total - min(total, available)))
    }
}
