import Foundation

/// How a subprocess ended, with the first bytes of its output.
public struct CommandOutcome: Sendable, Equatable {
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// It could not be started at all.
        case notStarted(String)
    }

    public var termination: Termination
    /// The deadline passed and the process group was killed.
    public var timedOut: Bool
    /// The caller cancelled it and the process group was killed.
    public var cancelled: Bool
    public var stdout: Data
    public var stderr: Data
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool

    public init(
        termination: Termination, timedOut: Bool = false, cancelled: Bool = false, stdout: Data = Data(),
        stderr: Data = Data(), stdoutTruncated: Bool = false, stderrTruncated: Bool = false
    ) {
        self.termination = termination
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
    }

    public var exitCode: Int32? {
        if case .exited(let code) = termination { return code }
        return nil
    }

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}
