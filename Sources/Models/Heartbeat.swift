import Foundation

/// The heartbeat section of a report (§5.1). `held` renews the leases of held jobs.
public struct Heartbeat: Codable, Sendable, Equatable {
    public var state: AgentState
    public var startedAt: Date
    /// Milliseconds since the agent started.
    public var uptime: Int
    public var held: [JobRef]
    public var health: Health?

    public init(state: AgentState, startedAt: Date, uptime: Int, held: [JobRef], health: Health? = nil) {
        self.state = state
        self.startedAt = startedAt
        self.uptime = uptime
        self.held = held
        self.health = health
    }
}
