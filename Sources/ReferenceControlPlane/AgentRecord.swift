import Models

/// What the reference control plane remembers about one agent. Codable for `--state-file`.
struct AgentRecord: Codable, Sendable {
    var registration: Registration
    var registrations = 0
    /// False once forgotten through the admin API: the agent's next claim or report gets 404.
    var known = true
    var lastHeartbeat: Heartbeat?
    var draining = false

    init(registration: Registration) { self.registration = registration }

    /// The agent's entry in `GET /admin/stats`.
    func view() -> JSONValue {
        var heartbeat = JSONValue.null
        if let lastHeartbeat, let value = try? JSONValue(encoding: lastHeartbeat) { heartbeat = value }
        return .object([
            "registrations": .int(Int64(registrations)),
            "lastHeartbeat": heartbeat,
            "draining": .bool(draining),
            "registered": .bool(known),
            "agentName": .string(registration.agentName),
            "version": .string(registration.version),
        ])
    }
}
