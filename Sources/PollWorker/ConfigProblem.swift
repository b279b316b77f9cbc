/// One thing wrong with the configuration, named by its key path.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable {
        /// The configuration is invalid: the agent will not start, `--check-config` exits 2.
        case error
        /// Worth knowing, does not stop anything (e.g. an unknown key).
        case warning
        /// The host is not ready for this configuration (a missing user or key file):
        /// `--check-config` shows it, the agent refuses to start on it.
        case host
    }

    public var severity: Severity
    public var keyPath: String
    public var message: String

    public init(_ severity: Severity, _ keyPath: String, _ message: String) {
        self.severity = severity
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String { "\(keyPath): \(message)" }
}
