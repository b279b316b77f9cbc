import Models

/// The (jobId, attempt) pairs the journal may hold: a superset of its rows, so a ref
/// not in it has no row, and a newly claimed job needs no lookup (a read took 0.2 ms
/// of the pickup path). Every insert into the journal adds its ref; rows pruned later
/// stay until the set is refilled from the table, once it has grown to twice its
/// size at the last fill (plus `slack`), so it stays in proportion to the table.
struct JournalKeys: Sendable {
    static let slack = 1024
    private var refs: Set<JobRef> = []
    private var refillAt = 0
    private var filled = false

    /// Whether the set must be (re)filled from the table before it can answer.
    var needsFill: Bool { !filled || refs.count > refillAt }

    /// Replaces the set with the table's refs.
    mutating func fill(_ rows: [JobRef]) {
        refs = Set(rows)
        refillAt = 2 * refs.count + Self.slack
        filled = true
    }

    /// A ref the journal now holds.
    mutating func insert(_ ref: JobRef) {
        refs.insert(ref)
    }

    /// False only when the journal surely has no row for `ref`.
    func mayHold(_ ref: JobRef) -> Bool {
        !filled || refs.contains(ref)
    }
}
