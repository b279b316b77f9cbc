import CSpawn
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One child process from start to reaping, run on the caller's (dedicated, blocking)
/// thread: `limahost_spawn` starts it in its own session, as the unprivileged user when
/// asked, and one `poll` loop then reads stdout and stderr as they come, notices the exit
/// through a pidfd, enforces the deadline and answers cancellation (`wake`).
///
/// Stopping it (deadline or cancellation) sends SIGTERM to its process group, and
/// SIGKILL to whatever is left of the group after `killGrace`. It ends once the child
/// is reaped and both pipes are closed; should something outside the group hold a pipe
/// open after the SIGKILL, it stops reading after one more second.
enum ChildProcess {
    struct Ending: Sendable {
        var termination: CommandOutcome.Termination
        var timedOut = false
        var cancelled = false
    }

    static func run(
        _ spec: CommandSpec, as account: UserAccount?, stdout: OutputCollector, stderr: OutputCollector,
        wake: WakeSignal, gate: Int32 = -1
    ) -> Ending {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        let outError = limahost_pipe(&outPipe)
        guard outError == 0 else { return notStarted("pipe", outError) }
        let errError = limahost_pipe(&errPipe)
        guard errError == 0 else {
            let error = errError
            close(outPipe[0])
            close(outPipe[1])
            return notStarted("pipe", error)
        }
        var pid: pid_t = -1
        var pidfd: Int32 = -1
        let error = CStringArray.with([spec.executable] + spec.arguments) { argv in
            CStringArray.with(spec.environment.map { "\($0.key)=\($0.value)" }) { envp in
                withOptionalCString(spec.workingDirectory) { cwd in
                    limahost_spawn(
                        spec.executable, argv, envp, cwd, account == nil ? 0 : 1, account?.uid ?? 0,
                        account?.gid ?? 0, outPipe[1], errPipe[1], gate, &pid, &pidfd)
                }
            }
        }
        close(outPipe[1])
        close(errPipe[1])
        guard error == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            return notStarted("cannot start \(spec.executable)", error)
        }
        defer { if pidfd >= 0 { close(pidfd) } }
        var watch = Watch(
            pid: pid, pidfd: pidfd, pipes: [outPipe[0], errPipe[0]], collectors: [stdout, stderr], spec: spec,
            wake: wake)
        return watch.run()
    }

    private static func notStarted(_ what: String, _ error: Int32) -> Ending {
        Ending(termination: .notStarted("\(what): \(String(cString: strerror(error)))"))
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }

    /// The poll loop's state.
    private struct Watch {
        let pid: pid_t
        let pidfd: Int32
        /// stdout, stderr; -1 once closed.
        var pipes: [Int32]
        let collectors: [OutputCollector]
        let spec: CommandSpec
        let wake: WakeSignal
        let clock = ContinuousClock()
        var status: Int32?
        var timedOut = false
        var cancelled = false
        var killAt: ContinuousClock.Instant?
        var killed: ContinuousClock.Instant?
        var buffer = [UInt8](repeating: 0, count: 65_536)

        init(
            pid: pid_t, pidfd: Int32, pipes: [Int32], collectors: [OutputCollector], spec: CommandSpec,
            wake: WakeSignal
        ) {
            self.pid = pid
            self.pidfd = pidfd
            self.pipes = pipes
            self.collectors = collectors
            self.spec = spec
            self.wake = wake
            for pipe in pipes { _ = fcntl(pipe, F_SETFL, fcntl(pipe, F_GETFL) | O_NONBLOCK) }
        }

        mutating func run() -> Ending {
            let deadline = clock.now.advanced(by: spec.timeout)
            while !finished() {
                var fds = [pollfd(fd: wake.descriptor, events: Int16(POLLIN), revents: 0)]
                for pipe in pipes where pipe >= 0 { fds.append(pollfd(fd: pipe, events: Int16(POLLIN), revents: 0)) }
                if status == nil && pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
                let ready = poll(&fds, nfds_t(fds.count), pollTimeout(deadline: deadline))
                if ready < 0 && errno != EINTR {
                    // Cannot watch it any more: nothing of it may outlive this call.
                    _ = kill(-pid, SIGKILL)
                    break
                }
                if fds[0].revents != 0 && wake.consume() && !cancelled {
                    cancelled = true
                    stop()
                }
                for index in pipes.indices where pipes[index] >= 0 { drain(index) }
                if status == nil { reap(blocking: false) }
                let now = clock.now
                if killAt == nil && now >= deadline && !cancelled {
                    timedOut = true
                    stop()
                }
                if let killAt, killed == nil, now >= killAt {
                    _ = kill(-pid, SIGKILL)
                    killed = now
                }
                if let killed, now >= killed.advanced(by: .seconds(1)) {
                    // Something outside the group holds a pipe: stop waiting for it.
                    for index in pipes.indices where pipes[index] >= 0 { closePipe(index) }
                }
            }
            if status == nil { reap(blocking: true) }
            for index in pipes.indices where pipes[index] >= 0 { closePipe(index) }
            return Ending(termination: termination(), timedOut: timedOut && !cancelled, cancelled: cancelled)
        }

        /// Reaped, both pipes at EOF and, once stopped, the group gone or SIGKILLed.
        private func finished() -> Bool {
            guard status != nil, pipes.allSatisfy({ $0 < 0 }) else { return false }
            guard killAt != nil, killed == nil else { return true }
            return kill(-pid, 0) != 0
        }

        private func pollTimeout(deadline: ContinuousClock.Instant) -> Int32 {
            let now = clock.now
            var until: ContinuousClock.Instant?
            if killAt == nil { until = deadline }
            if let killAt, killed == nil { until = min(until ?? killAt, killAt) }
            if let killed, pipes.contains(where: { $0 >= 0 }), now < killed.advanced(by: .seconds(1)) {
                until = killed.advanced(by: .seconds(1))
            }
            // Without a pidfd the exit is polled; once stopped, so is the group.
            if (status == nil && pidfd < 0) || (killAt != nil && killed == nil) {
                until = min(until ?? now.advanced(by: .milliseconds(50)), now.advanced(by: .milliseconds(50)))
            }
            guard let until else { return -1 }
            let left = now.duration(to: until)
            if left <= .zero { return 0 }
            let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
            return Int32(clamping: ms)
        }

        /// SIGTERM to the group now, SIGKILL after the grace period.
        private mutating func stop() {
            guard killAt == nil else { return }
            _ = kill(-pid, SIGTERM)
            killAt = clock.now.advanced(by: spec.killGrace)
        }

        private mutating func drain(_ index: Int) {
            let pipe = pipes[index]
            let kind: OutputStreamKind = index == 0 ? .stdout : .stderr
            while true {
                let count = buffer.withUnsafeMutableBytes { read(pipe, $0.baseAddress, $0.count) }
                if count > 0 {
                    let kept = buffer.withUnsafeBytes {
                        collectors[index].append(UnsafeRawBufferPointer(rebasing: $0[..<count]))
                    }
                    if let onOutput = spec.onOutput, !kept.isEmpty { onOutput(kind, kept) }
                    continue
                }
                if count == 0 || (errno != EAGAIN && errno != EINTR) { closePipe(index) }
                if count < 0 && errno == EINTR { continue }
                return
            }
        }

        private mutating func closePipe(_ index: Int) {
            close(pipes[index])
            pipes[index] = -1
        }

        private mutating func reap(blocking: Bool) {
            var raw: Int32 = 0
            while true {
                let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
                if result == pid {
                    status = raw
                    return
                }
                if result < 0 && errno == EINTR { continue }
                if result < 0 && errno == ECHILD {
                    status = 127 << 8  // reaped elsewhere: reported as exit 127, "could not tell"
                }
                return
            }
        }

        private func termination() -> CommandOutcome.Termination {
            guard let status else { return .signaled(SIGKILL) }
            let signal = status & 0x7f
            return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        }
    }
}
