/// `POST /v1/agents/{agentId}/jobs/claim` body (§4).
public struct ClaimRequest: Codable, Sendable, Equatable {
    /// How many more jobs the agent can start now (1 or more).
    public var capacity: Int
    /// How long (ms) the server may hold the request when it has nothing; 0 answers at once.
    public var wait: Int
    /// Every job claimed whose result is not yet in an `accepted` list.
    public var held: [JobRef]
    public var draining: Bool

    public init(capacity: Int, wait: Int, held: [JobRef], draining: Bool) {
        self.capacity = capacity
        self.wait = wait
        self.held = held
        self.draining = draining
    }
}
