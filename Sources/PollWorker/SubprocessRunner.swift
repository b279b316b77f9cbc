import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a subprocess with swift-subprocess, defensively:
/// - an argument array and an executable path, never a host shell (no injection);
/// - stdin from /dev/null (nothing can wait on a prompt);
/// - the environment given, nothing inherited (no secrets leak to limactl);
/// - its own session and process group, so the deadline kills everything it forked;
/// - a deadline: SIGTERM to the group, then SIGKILL after a grace period;
/// - output capped by `OutputCollector` (memory stays bounded);
/// - optionally as an unprivileged user (through setpriv), since Lima refuses root.
public struct SubprocessRunner: CommandRunner {
    private let clock: any Clock<Duration>
    private let setprivPath: String?

    public init(clock: any Clock<Duration> = ContinuousClock(), environment: [String: String] = [:]) {
        self.clock = clock
        self.setprivPath = ExecutableLookup.find("setpriv", path: environment["PATH"])
    }

    private enum Race: Sendable {
        case finished(CommandOutcome.Termination)
        case deadline
    }

    public func run(_ spec: CommandSpec) async -> CommandOutcome {
        let stdout = OutputCollector(limit: spec.maxOutputBytes)
        let stderr = OutputCollector(limit: spec.maxOutputBytes)
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: spec.killGrace)]
        var executablePath = spec.executable
        var argumentList = spec.arguments
        if let account = spec.account, geteuid() == 0 {
            // Drop to the unprivileged user through setpriv(1) rather than
            // PlatformOptions.userID/groupID: those call glibc's setgroups/setuid in
            // the forked child of this multi-threaded process, which can deadlock
            // in __nptl_setxid (seen here). setpriv is single-threaded when it does it.
            guard let setpriv = setprivPath else {
                return CommandOutcome(
                    termination: .notStarted("setpriv (util-linux) is needed to run as \(account.name)"))
            }
            executablePath = setpriv
            argumentList =
                ["--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--", spec.executable]
                + spec.arguments
        }
        let platformOptions = options
        // Raw entries go through strdup(), so each needs its NUL terminator.
        let environment = Environment.custom(spec.environment.map { Array("\($0.key)=\($0.value)".utf8) + [0] })
        let workingDirectory = spec.workingDirectory.map { FilePath($0) }
        let executable = Executable.path(FilePath(executablePath))
        let arguments = Arguments(argumentList)
        let clock = self.clock
        let leader = PIDBox()

        let (termination, stopped): (CommandOutcome.Termination?, Bool) = await withTaskGroup(of: Race.self) { group in
            group.addTask {
                do {
                    let result = try await Subprocess.run(
                        executable, arguments: arguments, environment: environment,
                        workingDirectory: workingDirectory, platformOptions: platformOptions, input: .none,
                        output: .sequence, error: .sequence
                    ) { execution in
                        leader.set(execution.processIdentifier.value)
                        await withTaskGroup(of: Void.self) { readers in
                            readers.addTask {
                                await Self.drain(execution.standardOutput, into: stdout, .stdout, spec.onOutput)
                            }
                            readers.addTask {
                                await Self.drain(execution.standardError, into: stderr, .stderr, spec.onOutput)
                            }
                        }
                    }
                    switch result.terminationStatus {
                    case .exited(let code): return .finished(.exited(code))
                    case .signaled(let signal): return .finished(.signaled(signal))
                    }
                } catch {
                    return .finished(.notStarted(String(describing: error)))
                }
            }
            group.addTask {
                do {
                    try await clock.sleep(for: spec.timeout)
                    return .deadline
                } catch {
                    // Cancelled: either the process finished first or the caller cancelled us.
                    return .deadline
                }
            }
            guard let first = await group.next() else { return (nil, true) }
            if case .finished(let termination) = first {
                group.cancelAll()
                return (termination, false)
            }
            // The deadline (or a cancellation): cancelling the run tears the group down.
            group.cancelAll()
            while let next = await group.next() {
                if case .finished(let termination) = next { return (termination, true) }
            }
            return (nil, true)
        }

        if stopped {
            // swift-subprocess ends its teardown as soon as the direct child exits, so
            // group members that ignore SIGTERM would survive: give them the grace
            // period, then SIGKILL whatever is left of the group.
            await Self.killGroup(leader.value, grace: spec.killGrace)
        }
        let cancelled = Task.isCancelled
        var outcome = CommandOutcome(
            termination: .signaled(SIGKILL), stdout: stdout.data, stderr: stderr.data,
            stdoutTruncated: stdout.truncated, stderrTruncated: stderr.truncated)
        if let termination { outcome.termination = termination }
        if stopped {
            outcome.cancelled = cancelled
            outcome.timedOut = !cancelled
        }
        return outcome
    }

    private static func killGroup(_ group: pid_t, grace: Duration) async {
        guard group > 1 else { return }
        let deadline = ContinuousClock.now.advanced(by: grace)
        while kill(-group, 0) == 0 && ContinuousClock.now < deadline {
            // Not cancellable on purpose: the kill below must happen.
            try? await Task.sleep(for: .milliseconds(50))
            if Task.isCancelled { break }
        }
        _ = kill(-group, SIGKILL)
    }

    private static func drain(
        _ sequence: SubprocessOutputSequence, into collector: OutputCollector, _ kind: OutputStreamKind,
        _ onOutput: (@Sendable (OutputStreamKind, Data) -> Void)?
    ) async {
        do {
            for try await buffer in sequence {
                let kept = buffer.withUnsafeBytes { collector.append($0) }
                if let onOutput, !kept.isEmpty { onOutput(kind, kept) }
            }
        } catch {
            // The child was torn down; what was read is kept.
        }
    }
}
