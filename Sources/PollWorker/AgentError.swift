/// The agent's own failures (not a job's): one struct, an extensible code per
/// domain, a message, and the underlying cause.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The configuration is invalid, or the host is not ready for it.
        public static let configuration = Code(rawValue: "configuration")
        /// The command line is malformed.
        public static let usage = Code(rawValue: "usage")
        /// The control plane could not be reached (after the bounded retries of --drain).
        public static let controlPlaneUnreachable = Code(rawValue: "control_plane_unreachable")
        /// The control plane refused the key (401/403).
        public static let controlPlaneRefused = Code(rawValue: "control_plane_refused")
        /// An invariant broke inside the agent.
        public static let `internal` = Code(rawValue: "internal")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}
