import Foundation
import Models

/// One line of `limactl list --json` (JSON Lines; limactl-reference.md §1.6).
/// Only the keys the agent uses; the rest is ignored.
struct LimactlListEntry: Decodable {
    var name: String
    var status: String?
    var dir: String?
    var vmType: String?
    var arch: String?
    var cpus: Int?
    var memory: Int64?
    var disk: Int64?
    var sshLocalPort: Int?
    var driverPID: Int32?

    var vmInfo: VMInfo {
        VMInfo(
            name: name, status: status ?? "", cpus: cpus ?? 0, memoryBytes: memory ?? 0, diskBytes: disk ?? 0,
            arch: arch ?? "", vmType: vmType ?? "", dir: dir ?? "", sshLocalPort: sshLocalPort)
    }

    /// Parses JSON Lines; a line that is not an instance object is skipped.
    static func parse(_ text: String) -> [LimactlListEntry] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            try? WireJSON.decoder().decode(LimactlListEntry.self, from: Data(line.utf8))
        }
    }
}
