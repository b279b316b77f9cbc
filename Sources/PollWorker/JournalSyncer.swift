import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Makes the journal's committed writes durable with one `fdatasync` of SQLite's WAL,
/// on a serial queue of its own: off the cooperative pool and off the `JobBook` actor,
/// and shared by everyone waiting at the time (group commit). A caller commits with
/// `synchronous = NORMAL` first, then awaits `sync()`: the flush that answers it starts
/// after its commit, so it covers it. Frames a checkpoint already moved into the
/// database file were synced by that checkpoint (NORMAL syncs the WAL before one and
/// the database after).
final class JournalSyncer: Sendable {
    private let walPath: String
    private let databasePath: String
    private let flush: @Sendable (String) -> Int32
    private let queue = DispatchQueue(label: "limahost-agent.journal-sync", qos: .userInitiated)
    private let progress = Locked((requested: 0, synced: 0, flushes: 0))

    /// `flush` returns 0 or an errno value; tests count and slow it.
    init(databasePath: String, flush: @escaping @Sendable (String) -> Int32 = JournalSyncer.fdatasyncFile) {
        self.databasePath = databasePath
        self.walPath = databasePath + "-wal"
        self.flush = flush
    }

    /// How many flushes have run (each may have answered many callers).
    var flushes: Int { progress.withLock { $0.flushes } }
    /// How many calls have asked so far.
    var queued: Int { progress.withLock { $0.requested } }

    /// Returns once every write committed before the call is on disk.
    func sync() async throws(StoreError) {
        let ticket = progress.withLock { progress in
            progress.requested += 1
            return progress.requested
        }
        let error: Int32 = await withCheckedContinuation { continuation in
            queue.async { [self] in
                let (done, target) = progress.withLock { ($0.synced >= ticket, $0.requested) }
                guard !done else { return continuation.resume(returning: 0) }
                // Without a WAL (none written since it was last emptied) the database file holds it all.
                var code = flush(walPath)
                if code == ENOENT { code = flush(databasePath) }
                progress.withLock { progress in
                    progress.flushes += 1
                    if code == 0 { progress.synced = max(progress.synced, target) }
                }
                continuation.resume(returning: code)
            }
        }
        guard error == 0 else {
            throw StoreError(.io, "cannot sync the state store \(walPath): \(String(cString: strerror(error)))")
        }
    }

    /// `fdatasync` of the file at `path`: 0 or an errno value.
    static func fdatasyncFile(_ path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return fdatasync(fd) == 0 ? 0 : errno
    }
}
