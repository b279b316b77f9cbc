/// The agent's version, sent in `User-Agent` and at registration.
public enum AgentVersion {
    public static let current = "0.1.0"
    public static let wireProtocol = 1
}
