/// The process exit codes, in one place.
public enum ExitStatus: Int32, Sendable {
    /// Everything succeeded (or a service stopped cleanly).
    case ok = 0
    /// `--drain`: some job did not succeed.
    case jobFailed = 1
    /// Usage or configuration error.
    case configuration = 2
    /// `--drain`: the control plane could not be reached or refused the key.
    case controlPlane = 3

    /// How the agent's own errors end the process.
    public static func forError(_ error: AgentError) -> ExitStatus {
        switch error.code {
        case .configuration, .usage: .configuration
        case .controlPlaneUnreachable, .controlPlaneRefused: .controlPlane
        default: .jobFailed
        }
    }
}
