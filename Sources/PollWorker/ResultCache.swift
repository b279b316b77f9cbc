import Models

/// The outbox's small results, kept decoded beside their rows so that a report does
/// not decode every pending result again from JSON. The rows stay the truth: a miss
/// (a big result, one from before a restart, one put back by `resend`) is read from
/// the store. Bounded in entries and in encoded bytes, so a long outage that fills the
/// outbox does not fill memory too.
struct ResultCache: Sendable {
    static let maxEntries = 512
    static let maxEntryBytes = 16_384
    static let maxBytes = 2 << 20

    private var entries: [JobRef: (result: JobResult, bytes: Int)] = [:]
    private var bytes = 0

    /// Remembers a result the store has just committed; its encoded size decides whether it fits.
    mutating func insert(_ result: JobResult, encodedBytes: Int) {
        remove(result.ref)
        guard encodedBytes <= Self.maxEntryBytes, entries.count < Self.maxEntries,
            bytes + encodedBytes <= Self.maxBytes
        else { return }
        entries[result.ref] = (result, encodedBytes)
        bytes += encodedBytes
    }

    mutating func remove(_ ref: JobRef) {
        guard let entry = entries.removeValue(forKey: ref) else { return }
        bytes -= entry.bytes
    }

    func result(_ ref: JobRef) -> JobResult? { entries[ref]?.result }

    var count: Int { entries.count }
}
