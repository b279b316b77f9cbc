import Models

/// The newest host health the metrics sampler measured, for the reporter to put in
/// each heartbeat (§5.1). Nil until the first sample.
public final class HealthBoard: Sendable {
    private let latest = Locked<Health?>(nil)

    public init() {}

    public var current: Health? { latest.withLock { $0 } }

    public func update(_ health: Health) { latest.withLock { $0 = health } }
}
