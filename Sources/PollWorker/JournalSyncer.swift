import CSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Makes the journal's committed writes durable with one `fdatasync` of SQLite's WAL,
/// never inside the `JobBook` actor, and shared by everyone waiting at the time (group
/// commit): the first caller flushes on its own thread, and whoever comes while that
/// runs waits on a serial queue for the next flush. A caller commits with
/// `synchronous = NORMAL` first, then awaits `sync()`: the flush that answers it starts
/// after its commit, so it covers it. Frames a checkpoint already moved into the
/// database file were synced by that checkpoint (NORMAL syncs the WAL before one and
/// the database after).
final class JournalSyncer: Sendable {
    private let walPath: String
    private let databasePath: String
    private let flush: @Sendable (String) -> Int32
    private let queue = DispatchQueue(label: "limahost-agent.journal-sync", qos: .userInitiated)
    private let progress = Locked(Progress())
    /// Held by whoever flushes: a queued caller waits out an inline flush, then checks
    /// whether it was covered.
    private let flushing = Mutex(())

    private struct Progress {
        var requested = 0
        var synced = 0
        var flushes = 0
        /// A caller is flushing on its own thread.
        var inline = false
        /// Flushes `begin` queued that have not ended: a caller then waits on the queue
        /// instead of blocking its thread on theirs.
        var begun = 0
    }

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

    /// Returns once every write committed before the call is on disk. With no flush
    /// under way the caller flushes on its own thread (no hop, the pickup path);
    /// otherwise it waits on the queue for the next flush, shared with the others.
    func sync() async throws(StoreError) {
        let inlineTicket = progress.withLock { progress -> Int? in
            guard !progress.inline && progress.begun == 0 else { return nil }
            progress.inline = true
            progress.requested += 1
            return progress.requested
        }
        guard let inlineTicket else { return try await begin().wait() }
        if let failure = failure(flushCovering(inlineTicket, inline: true)) { throw failure }
    }

    /// The error for a flush's outcome (0 or an errno value), nil when it succeeded.
    private func failure(_ code: Int32) -> StoreError? {
        code == 0 ? nil : StoreError(.io, "cannot sync the state store \(walPath): \(String(cString: strerror(code)))")
    }

    /// Starts a flush covering every write committed so far, on the queue, and returns at
    /// once: an early start (`JobBook.admit`) is made durable while its job gets ready,
    /// and a `sync` that finds a flush under way waits here for the next one.
    /// `startingWriteback`: also start the WAL's writeback on the calling thread.
    func begin(startingWriteback: Bool = false) -> JournalFlush {
        let ticket = progress.withLock { progress in
            progress.requested += 1
            progress.begun += 1
            return progress.requested
        }
        let flush = JournalFlush()
        queue.async { [self] in
            let error = failure(flushCovering(ticket, inline: false))
            progress.withLock { $0.begun -= 1 }
            flush.complete(error)
        }
        // While the queue's thread wakes up, the data starts for the disk from this one:
        // the fdatasync then mostly waits for it and flushes the disk's cache. Only on
        // the pickup path: under load, a kick per queued flush is one more disk request
        // each, for flushes that start soon anyway.
        if startingWriteback { _ = limahost_start_writeback(walPath) }
        return flush
    }

    /// One flush that covers every request made so far, unless one has covered `ticket` already.
    private func flushCovering(_ ticket: Int, inline: Bool) -> Int32 {
        let code = flushing.withLock { _ -> Int32 in
            let (done, target) = progress.withLock { ($0.synced >= ticket, $0.requested) }
            if done { return 0 }
            // Without a WAL (none written since it was last emptied) the database file holds it all.
            var code = flush(walPath)
            if code == ENOENT { code = flush(databasePath) }
            progress.withLock { progress in
                progress.flushes += 1
                if code == 0 { progress.synced = max(progress.synced, target) }
            }
            return code
        }
        if inline { progress.withLock { $0.inline = false } }
        return code
    }

    /// `fdatasync` of the file at `path`: 0 or an errno value.
    static func fdatasyncFile(_ path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return fdatasync(fd) == 0 ? 0 : errno
    }
}
