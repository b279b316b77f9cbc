import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Remembers a child's pid across tasks (the leader of its process group).
final class PIDBox: Sendable {
    private let state = Mutex<pid_t>(0)
    var value: pid_t { state.withLock { $0 } }
    func set(_ pid: pid_t) { state.withLock { $0 = pid } }
}
