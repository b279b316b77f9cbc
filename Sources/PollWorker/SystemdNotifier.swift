import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The sd_notify protocol without libsystemd: one datagram per message to the
/// unix socket named by `$NOTIFY_SOCKET` (a leading `@` is the abstract namespace).
/// Without `$NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call does
/// nothing. Used for `READY=1`, `STOPPING=1`, `EXTEND_TIMEOUT_USEC=…`, `WATCHDOG=1`
/// and `STATUS=…`.
public final class SystemdNotifier: Sendable {
    private let socketPath: String?
    /// `$WATCHDOG_USEC` as a duration, when systemd expects watchdog pings.
    public let watchdogInterval: Duration?
    private let readySent = Mutex(false)

    public init(environment: [String: String]) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        // WATCHDOG_PID, when set, must be this process.
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if path != nil, forUs, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec)
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    /// `READY=1`, once: after registration and the first successful claim or report.
    public func ready() {
        let first = readySent.withLock { sent -> Bool in
            defer { sent = true }
            return !sent
        }
        if first { send("READY=1\nSTATUS=pulling jobs") }
    }

    public func stopping(_ status: String) { send("STOPPING=1\nSTATUS=\(status)") }

    /// Asks systemd for `duration` more before it kills a stop (or start) in progress.
    public func extendTimeout(_ duration: Duration) {
        let usec = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        send("EXTEND_TIMEOUT_USEC=\(usec)")
    }

    public func watchdog() { send("WATCHDOG=1") }

    public func status(_ text: String) { send("STATUS=\(text)") }

    /// Sends one datagram; failures are ignored (systemd may be gone during shutdown).
    public func send(_ message: String) {
        guard let socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let payload = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                sendto(fd, payload, payload.count, Int32(MSG_NOSIGNAL), socketAddress, length)
            }
        }
    }
}
