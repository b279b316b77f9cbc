import Foundation
import Models

/// Host network traffic from `/proc/net/dev`.
public enum NetworkCounters {
    /// Received and transmitted bytes since boot, summed over every interface except the
    /// loopback `lo`. nil when no interface line parses (the text is not `net/dev`); a host
    /// with only `lo` gives zeros.
    ///
    /// After the two header lines, each line is `name: rx_bytes rx_packets … (8 receive
    /// fields) tx_bytes …`. Old kernels print no space after the colon (`eth0:123`), so the
    /// name ends at the first colon.
    public static func parse(netDev: String) -> MetricsSample.Network? {
        var received: UInt64 = 0
        var transmitted: UInt64 = 0
        var sawInterface = false
        for line in netDev.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard !name.isEmpty, fields.count >= 9, let rx = UInt64(fields[0]), let tx = UInt64(fields[8]) else {
                continue
            }
            sawInterface = true
            guard name != "lo" else { continue }
            received = received.addingReportingOverflow(rx).overflow ? UInt64.max : received + rx
            transmitted = transmitted.addingReportingOverflow(tx).overflow ? UInt64.max : transmitted + tx
        }
        guard sawInterface else { return nil }
        return MetricsSample.Network(rxBytes: clampedInt64(received), txBytes: clampedInt64(transmitted))
    }

    /// `value` as Int64, saturating at `Int64.max`.
    static func clampedInt64(_ value: UInt64) -> Int64 {
        value > UInt64(Int64.max) ? Int64.max : Int64(value)
    }
}
