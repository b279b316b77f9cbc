/// What an injected fault (`FaultRule`) does to the agent request it hits.
enum FaultKind: String, Codable, Sendable, CaseIterable {
    /// Answers the rule's `status` (with `retryAfter` and `body`) before any processing.
    case status
    /// Cuts the connection before any processing (see `SeveredReply`).
    case reset
    /// Answers `200` with `Content-Type: application/json` and a body that is not JSON,
    /// before any processing.
    case garbage
    /// Waits the rule's `delayMs`, then processes the request and answers normally.
    case slow
    /// Processes the request fully (a claim leases its jobs, a report records its results),
    /// then cuts the connection instead of answering (see `SeveredReply`).
    case lostReply

    /// Every kind's name, for messages.
    static let names = allCases.map(\.rawValue).joined(separator: ", ")
}
