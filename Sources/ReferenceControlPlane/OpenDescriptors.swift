import Foundation

/// This process's open file descriptors, from /proc/self/fd (Linux) or /dev/fd (macOS):
/// how the server reaches under FlyingFox to its own sockets.
enum OpenDescriptors {
    static func list() -> [Int32] {
        for directory in ["/proc/self/fd", "/dev/fd"] {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            return names.compactMap { Int32($0) }
        }
        return []
    }
}
