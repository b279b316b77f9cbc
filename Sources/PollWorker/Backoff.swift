/// Exponential back-off with full jitter (base about 1 s, cap about 60 s, still
/// jittered at the cap), reset after a success. One policy for every call.
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration
    private var failures = 0
    private var random: @Sendable (Double) -> Double

    public init(
        base: Duration = .seconds(1), cap: Duration = .seconds(60),
        random: @escaping @Sendable (Double) -> Double = { Double.random(in: 0...$0) }
    ) {
        self.base = base
        self.cap = cap
        self.random = random
    }

    public var consecutiveFailures: Int { failures }

    /// The wait before the next try: uniform in [0, min(cap, base·2^failures)].
    public mutating func nextDelay() -> Duration {
        let exponent = min(failures, 30)
        failures += 1
        let ceiling = min(Self.seconds(cap), Self.seconds(base) * Double(1 << exponent))
        return .milliseconds(Int64(random(ceiling) * 1000))
    }

    /// The wait for an error, honouring Retry-After and the long back-off of 401/403.
    public mutating func delay(for error: ControlPlaneError) -> Duration {
        switch error.kind {
        case .throttled(let retryAfter?):
            let jittered = nextDelay()
            return max(retryAfter, jittered)
        case .refused:
            failures += 1
            // At least 60 s, jittered up to 120 s (§2).
            return .milliseconds(Int64((60 + random(60)) * 1000))
        default:
            return nextDelay()
        }
    }

    public mutating func reset() { failures = 0 }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
