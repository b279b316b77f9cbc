/// A result's `status` (§5.2).
public enum ResultStatus: String, Codable, Sendable, CaseIterable {
    case succeeded
    /// It ran and did not succeed (non-zero exit, limactl error).
    case failed
    /// The job's timeout ran out and the agent killed it.
    case timedOut = "timed_out"
    /// The control plane cancelled it, or the operator stopped the agent hard.
    case cancelled
    /// Not run at all (invalid, unknown type, policy, signature).
    case rejected
    /// The agent stopped or crashed while it ran; its effects are unknown.
    case interrupted
}
