/// The heartbeat's `state` (§5.1).
public enum AgentState: String, Codable, Sendable {
    case running
    /// Finishing work, claiming nothing new.
    case draining
    case stopping
}
