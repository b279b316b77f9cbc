/// Why the agent stops a job before it ends on its own. Each ends in a `cancelled` result.
public enum CancelReason: Sendable, Equatable {
    /// A report reply named the job in `cancel` (§5.4).
    case controlPlane
    /// The job's lease ran out without renewal: the control plane may have handed it to another agent.
    case leaseExpired
    /// The operator stopped the agent hard: a second signal, or the drain budget ran out.
    case shutdown

    public var message: String {
        switch self {
        case .controlPlane: "cancelled by the control plane"
        case .leaseExpired:
            "the job's lease ran out without renewal; stopped, as the control plane may run it elsewhere"
        case .shutdown: "the agent was stopped before the job finished"
        }
    }
}
