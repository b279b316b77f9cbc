/// An idle agent's last `limactl list`, answered again while nothing it depends on has
/// changed: no job held, no VM running in it, an equal `LimaHomeFingerprint`, and
/// younger than `maxAge`. So an idle host is not running limactl at every heartbeat,
/// and the list is still taken afresh at least every `maxAge`.
struct IdleListCache: Sendable {
    static let maxAge: Duration = .seconds(600)

    private var last: (outcome: CommandOutcome, fingerprint: LimaHomeFingerprint, at: ContinuousClock.Instant)?

    /// The last list, when it may stand for a new one.
    func reusable(idle: Bool, fingerprint: LimaHomeFingerprint?, now: ContinuousClock.Instant) -> CommandOutcome? {
        guard idle, let fingerprint, let last, last.fingerprint == fingerprint, now - last.at < Self.maxAge else {
            return nil
        }
        return last.outcome
    }

    /// Keeps a successful list that found no VM running, taken with `fingerprint` read
    /// just before it; anything else is forgotten, so the next sample lists again.
    mutating func remember(
        _ outcome: CommandOutcome, anyRunning: Bool, fingerprint: LimaHomeFingerprint?, at: ContinuousClock.Instant
    ) {
        guard let fingerprint, outcome.termination == .exited(0), !outcome.timedOut, !anyRunning else {
            last = nil
            return
        }
        last = (outcome, fingerprint, at)
    }
}
