import CSpawn
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Lets a job's first child get ready while the job's start is being journaled, and
/// exec only once that start is on disk. The fsync and the child's set-up (clone,
/// identity, descriptors) then overlap, and no limactl that changes anything runs for a
/// start that a power cut could lose. The job runner opens it (`open(true)`) after the
/// durable write (after the write alone for an early start that only reads:
/// `JobRunner.openEarly`), or refuses it (`open(false)`) when the write failed; the child (see
/// `limahost_spawn`) blocks on one byte from `fd` just before execve.
///
/// It reaches `SubprocessRunner` as a task-local, taken by the job's first spawn only.
public final class StartGate: Sendable {
    @TaskLocal static var current: StartGate?

    /// The read end, for the child.
    let fd: Int32
    private let writeEnd: Int32
    private let state = Locked((taken: false, opened: false))

    /// Nil when no pipe can be made: the runner then journals before it executes.
    init?() {
        var fds: [Int32] = [-1, -1]
        guard limahost_pipe(&fds) == 0 else { return nil }
        fd = fds[0]
        writeEnd = fds[1]
    }

    /// The gate for the first child that asks; nil afterwards.
    func take() -> StartGate? {
        state.withLock { state in
            if state.taken { return false }
            state.taken = true
            return true
        } ? self : nil
    }

    /// Lets the child exec (`go`), or ends it unstarted. Only the first call counts.
    func open(_ go: Bool) {
        let first = state.withLock { state in
            defer { state.opened = true }
            return !state.opened
        }
        guard first else { return }
        var byte: UInt8 = go ? 1 : 0
        while write(writeEnd, &byte, 1) < 0, errno == EINTR {}
    }

    deinit {
        close(fd)
        close(writeEnd)
    }
}
