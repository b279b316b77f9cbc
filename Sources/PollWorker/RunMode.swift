import Synchronization

/// Shared facts about the run the services consult: drain mode, whether a
/// shutdown has begun (the heartbeat's `state`), and whether it became a hard stop.
public final class RunMode: Sendable {
    public let drain: Bool
    private let state = Mutex((stopping: false, hardStop: false))

    public init(drain: Bool) { self.drain = drain }

    public var isStopping: Bool { state.withLock { $0.stopping } }
    public func beginStopping() { state.withLock { $0.stopping = true } }

    /// A second signal or the drain budget: running jobs are cancelled and the final flush is short.
    public var isHardStop: Bool { state.withLock { $0.hardStop } }
    public func beginHardStop() {
        state.withLock {
            $0.stopping = true
            $0.hardStop = true
        }
    }
}
