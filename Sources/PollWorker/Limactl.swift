import Foundation
import Logging
import Models

/// Runs `limactl` for the agent: the resolved executable, `LIMA_HOME`, a minimal
/// environment, the unprivileged user, and `--tty=false --log-format=json` on
/// every call so nothing prompts and every error is a parseable JSON line.
public struct Limactl: Sendable {
    private let runner: any CommandRunner
    /// nil when limactl cannot be found: every job then fails `limactl_unavailable`.
    public let executable: String?
    public let account: UserAccount?
    public let environment: [String: String]
    public let maxOutputBytes: Int
    /// The runner limactl goes through, for the agent's own tools (tar for backups).
    public var archiveRunner: any CommandRunner { runner }

    /// LIMA_HOME as limactl gets it: where the instance directories are.
    public var limaHome: String? { environment["LIMA_HOME"] }
    public let killGrace: Duration
    /// `--log-level debug` shows each call and how it ended.
    let logger: Logger?

    public init(
        runner: any CommandRunner, executable: String?, account: UserAccount?, environment: [String: String],
        maxOutputBytes: Int, killGrace: Duration = .seconds(5), logger: Logger? = nil
    ) {
        self.logger = logger
        self.runner = runner
        self.executable = executable
        self.account = account
        self.environment = environment
        self.maxOutputBytes = maxOutputBytes
        self.killGrace = killGrace
    }

    /// The child's whole environment: PATH, the user's identity, LIMA_HOME, the
    /// proxy variables (image downloads go through them) and the operator's LIMA_* knobs.
    public static func childEnvironment(
        limaHome: String, account: UserAccount, executable: String?, inherited: [String: String]
    ) -> [String: String] {
        var path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
        if let executable, let slash = executable.lastIndex(of: "/") {
            path = String(executable[..<slash]) + ":" + path
        }
        var environment: [String: String] = [
            "PATH": path, "HOME": account.home, "USER": account.name, "LOGNAME": account.name,
            "LIMA_HOME": limaHome, "LANG": "C.UTF-8",
        ]
        let passed = ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "ALL_PROXY"]
        for (key, value) in inherited
        where passed.contains(key) || (key.hasPrefix("LIMA_") && key != "LIMA_HOME" && key != "LIMA_AGENT_CONFIG") {
            environment[key] = value
        }
        return environment
    }

    /// `~` or `~/x` expanded against the account's home.
    public static func expandHome(_ path: String, home: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + String(path.dropFirst(1)) }
        return path
    }

    public func run(
        _ arguments: [String], timeout: Duration, output: (@Sendable (OutputStreamKind, Data) -> Void)? = nil
    ) async -> CommandOutcome {
        guard let executable else {
            return CommandOutcome(termination: .notStarted("limactl was not found"))
        }
        let spec = CommandSpec(
            executable: executable, arguments: ["--tty=false", "--log-format=json"] + arguments,
            environment: environment, workingDirectory: account?.home, account: account, timeout: timeout,
            killGrace: killGrace, maxOutputBytes: maxOutputBytes, onOutput: output)
        logger?.debug(
            "limactl call", metadata: ["arguments": .string(arguments.joined(separator: " ")), "timeout": "\(timeout)"])
        let started = ContinuousClock.now
        let outcome = await runner.run(spec)
        logger?.debug(
            "limactl ended",
            metadata: [
                "arguments": .string(arguments.first ?? ""), "outcome": "\(outcome.termination)",
                "timedOut": "\(outcome.timedOut)", "ms": "\(Int(Backoff.seconds(started.duration(to: .now)) * 1000))",
            ])
        return outcome
    }

    /// The `level=fatal` message limactl printed, or its plain root refusal.
    public static func fatalMessage(_ stderr: String) -> String? {
        for line in stderr.split(whereSeparator: \.isNewline).reversed() {
            if line.hasPrefix("limactl: ") { return String(line.dropFirst("limactl: ".count)) }
            guard line.hasPrefix("{"),
                let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(line.utf8)),
                case .string("fatal")? = object["level"], case .string(let message)? = object["msg"]
            else { continue }
            return message
        }
        return nil
    }

    /// Maps a limactl failure to the wire's error codes.
    public static func errorCode(forMessage message: String) -> ErrorCode {
        let lower = message.lowercased()
        if lower.contains("must not run as the root user") { return .limactlUnavailable }
        if lower.contains("already exists") { return .vmExists }
        let missingInstance =
            lower.contains("does not exist") || lower.contains("unmatched instances")
            || (lower.contains("no such file or directory") && lower.contains("lima.yaml"))
            || (lower.contains("not found") && lower.contains("instance"))
        if missingInstance {
            return .vmNotFound
        }
        return .limactlFailed
    }

    /// The job error for an outcome that did not succeed, or nil when it exited 0.
    public static func failure(_ outcome: CommandOutcome, action: String) -> JobError? {
        if let stopped = JobError.stopped(outcome, action: action) { return stopped }
        switch outcome.termination {
        case .exited(0):
            return nil
        case .notStarted(let reason):
            return .failed(.limactlUnavailable, "limactl could not be started: \(reason)")
        case .signaled(let signal):
            return .failed(.limactlFailed, "\(action): limactl was killed by signal \(signal)")
        case .exited(let code):
            if let message = fatalMessage(outcome.stderrText) {
                return .failed(errorCode(forMessage: message), message)
            }
            let tail = outcome.stderrText.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
            return .failed(.limactlFailed, "\(action): limactl exited \(code)\(tail.isEmpty ? "" : ": \(tail)")")
        }
    }
}
