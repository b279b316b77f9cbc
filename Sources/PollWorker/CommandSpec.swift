import Foundation

/// One subprocess to run: always an argument array, never a host shell.
public struct CommandSpec: Sendable {
    public var executable: String
    public var arguments: [String]
    /// The child's whole environment (nothing is inherited).
    public var environment: [String: String]
    public var workingDirectory: String?
    /// Run as this user (uid, gid, no supplementary groups) when the agent is root.
    public var account: UserAccount?
    public var timeout: Duration
    /// Between SIGTERM and SIGKILL to the child's process group.
    public var killGrace: Duration
    /// Bytes kept of stdout and of stderr each.
    public var maxOutputBytes: Int
    /// Called with each piece of output as it is read (only what is kept, within the cap).
    public var onOutput: (@Sendable (OutputStreamKind, Data) -> Void)?

    public init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String? = nil,
        account: UserAccount? = nil, timeout: Duration, killGrace: Duration = .seconds(5), maxOutputBytes: Int,
        onOutput: (@Sendable (OutputStreamKind, Data) -> Void)? = nil
    ) {
        self.onOutput = onOutput
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.account = account
        self.timeout = timeout
        self.killGrace = killGrace
        self.maxOutputBytes = maxOutputBytes
    }
}
