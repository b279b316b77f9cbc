import Synchronization

/// What the watchdog asks before each `WATCHDOG=1`: did every loop come round in
/// time? Each loop says, before it waits, how long it may take at most (`expect`),
/// or that it is waiting for work with no deadline (`idle`). A loop whose promise
/// ran out is stuck, and the watchdog stops pinging, so systemd restarts the agent.
public final class Liveness: Sendable {
    private let deadlines = Mutex<[String: ContinuousClock.Instant?]>([:])
    private let clock: ContinuousClock

    public init(clock: ContinuousClock = ContinuousClock()) { self.clock = clock }

    /// The loop `name` will come round within `duration` (plus a margin).
    public func expect(_ name: String, within duration: Duration) {
        let deadline = clock.now.advanced(by: duration + .seconds(30))
        deadlines.withLock { $0[name] = deadline }
    }

    /// The loop `name` waits for work; however long, that is healthy.
    public func idle(_ name: String) { deadlines.withLock { $0[name] = .some(nil) } }

    /// The loops that have run out of their promised time.
    public func stuck() -> [String] {
        let now = clock.now
        return deadlines.withLock { deadlines in
            deadlines.compactMap { name, deadline in
                guard let deadline = deadline, deadline < now else { return nil }
                return name
            }.sorted()
        }
    }
}
