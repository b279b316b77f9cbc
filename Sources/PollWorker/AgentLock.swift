import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on `<stateDir>/agent.lock`, held for the life of the process,
/// so two agents never share one journal. The kernel drops it when the process
/// dies, kill -9 included, so there is never a stale lock to clean up.
public final class AgentLock: Sendable {
    private let descriptor: Int32

    public init(directory: String) throws(StoreError) {
        try StateStore.prepareDirectory(directory)
        let path = directory + "/agent.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason =
                errno == EWOULDBLOCK
                ? "another limahost-agent is running with this stateDir" : String(cString: strerror(errno))
            close(fd)
            throw StoreError(.locked, "cannot lock \(path): \(reason)")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}
