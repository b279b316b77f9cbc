import Synchronization

/// Shared facts about the run the services consult: drain mode, and whether a
/// shutdown has begun (the heartbeat's `state`).
public final class RunMode: Sendable {
    public let drain: Bool
    private let stopping = Mutex(false)

    public init(drain: Bool) { self.drain = drain }

    public var isStopping: Bool { stopping.withLock { $0 } }
    public func beginStopping() { stopping.withLock { $0 = true } }
}
