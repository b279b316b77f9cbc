import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a subprocess defensively:
/// - an argument array and an executable path, never a host shell (no injection);
/// - stdin from /dev/null (nothing can wait on a prompt);
/// - the environment given, nothing inherited (no secrets leak to limactl);
/// - its own session and process group, so the deadline kills everything it forked;
/// - a deadline: SIGTERM to the group, then SIGKILL after a grace period;
/// - output capped by `OutputCollector` (memory stays bounded) while it keeps reading;
/// - as the unprivileged user when the agent is root (Lima refuses root), switched in
///   the child itself: no helper program is executed (`ChildProcess`, `limahost_spawn`).
///
/// Each child is watched by one dedicated thread blocked in `poll`, never by the
/// cooperative pool, so a slow or chatty child cannot starve the agent's tasks.
public struct SubprocessRunner: CommandRunner {
    public init() {}

    public func run(_ spec: CommandSpec) async -> CommandOutcome {
        guard let wake = WakeSignal() else {
            return CommandOutcome(termination: .notStarted("eventfd: \(String(cString: strerror(errno)))"))
        }
        let stdout = OutputCollector(limit: spec.maxOutputBytes)
        let stderr = OutputCollector(limit: spec.maxOutputBytes)
        let account = geteuid() == 0 ? spec.account : nil
        // The job's first child waits at the gate until its start is journaled.
        let gate = StartGate.current?.take()
        let ending = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ChildProcess.Ending, Never>) in
                let thread = Thread {
                    continuation.resume(
                        returning: ChildProcess.run(
                            spec, as: account, stdout: stdout, stderr: stderr, wake: wake, gate: gate?.fd ?? -1))
                }
                thread.name = "limahost-child"
                thread.start()
            }
        } onCancel: {
            wake.ring()
        }
        return CommandOutcome(
            termination: ending.termination, timedOut: ending.timedOut, cancelled: ending.cancelled,
            stdout: stdout.data, stderr: stderr.data, stdoutTruncated: stdout.truncated,
            stderrTruncated: stderr.truncated)
    }
}
