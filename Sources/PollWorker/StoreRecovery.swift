import Models

/// What the state store held when the agent started, after crash recovery.
public struct StoreRecovery: Sendable {
    /// Jobs claimed but never started, still leased: they run now, once.
    public var resumable: [Job] = []
    /// Results waiting for an `accepted`, oldest first; `interrupted` ones included.
    public var pending: [JobResult] = []
    /// Jobs that had started and never finished: now reported `interrupted`.
    public var interrupted: [JobRef] = []
    /// Claimed, never started, whose lease ran out while the agent was down.
    public var expired: [JobRef] = []

    public init() {}
}
