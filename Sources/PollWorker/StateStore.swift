import Foundation
import GRDB
import Models

/// The agent's durable state: one SQLite database under `stateDir`, in WAL mode with
/// `synchronous = FULL`, so a committed write survives kill -9 and power loss.
///
/// The journal has one row per (jobId, attempt), moving claimed → started →
/// finished → accepted. A finished row holds the job's result: the results part
/// of the outbox is the set of finished rows, so a result is committed in the
/// same write that ends its job, and it leaves the outbox only when a report
/// reply lists it in `accepted`. Accepted rows are kept a while so that a
/// re-delivered job is answered with its stored result instead of running again.
/// Log chunks and metrics samples wait in their own bounded tables
/// (`StateStore+Outbox.swift`).
///
/// Every call is synchronous and short; the callers (the `JobBook` actor, the
/// reporter) run one write at a time, so the write order is the call order.
public final class StateStore: Sendable {
    public static let fileName = "agent.sqlite"
    /// Accepted results kept for answering re-deliveries.
    public static let acceptedKept = 1024

    public let path: String
    /// The outbox bound in bytes: results count toward it, but only logs and metrics are dropped.
    public let maxOutboxBytes: Int
    let database: DatabaseQueue
    /// Pending results already decoded (`pendingResults`).
    let results = Locked(ResultCache())
    /// The refs the journal may hold. Changed only inside the database's serialized
    /// calls, so it moves in step with the table.
    let keys = Locked(JournalKeys())
    /// Rows in each bounded outbox queue, nil until counted (or after a failed write):
    /// an idle agent asks several times per heartbeat whether anything waits. Counted
    /// and changed only inside the database's serialized calls.
    let queued = Locked<[Queue: Int]?>(nil)
    /// Makes NORMAL commits durable, off the caller's thread: starts and results.
    let syncer: JournalSyncer

    enum State: String { case claimed, started, finished, accepted, discarded }

    /// What the journal knows of one (jobId, attempt).
    public enum Entry: Sendable, Equatable {
        case claimed, started
        case finished(JobResult)
        case accepted(JobResult)
        /// Its result was refused by the control plane and dropped: never run or sent again.
        case discarded
    }

    /// Opens (creating when missing) `<directory>/agent.sqlite` and migrates it.
    public convenience init(directory: String, maxOutboxBytes: Int) throws(StoreError) {
        try self.init(directory: directory, maxOutboxBytes: maxOutboxBytes, flush: JournalSyncer.fdatasyncFile)
    }

    /// `flush` is the syncer's `fdatasync` (tests fail or slow it).
    init(directory: String, maxOutboxBytes: Int, flush: @escaping @Sendable (String) -> Int32) throws(StoreError) {
        try Self.prepareDirectory(directory)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        syncer = JournalSyncer(databasePath: path, flush: flush)
        self.maxOutboxBytes = maxOutboxBytes
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(5)
        configuration.label = "limahost-agent.state"
        configuration.prepareDatabase { db in
            // FULL: a commit is on disk before it returns, power loss included.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            // A read first: `approvals` opens the running agent's database, and must not
            // take the write lock from it when the schema is already current.
            let current = try database.read { db in try Self.migrator.hasCompletedMigrations(db) }
            if !current { try Self.migrator.migrate(database) }
        } catch {
            throw StoreError(.unavailable, "cannot open the state store \(path): \(error)")
        }
    }

    /// Creates the state directory (0700) when it is missing; the lock and the store both need it.
    static func prepareDirectory(_ directory: String) throws(StoreError) {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(.unavailable, "cannot create the state directory \(directory): \(error)")
        }
    }

    /// The schema, one migration per version; a newer agent adds migrations, never edits one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE journal (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        job_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        vm_name TEXT,
                        state TEXT NOT NULL CHECK (state IN ('claimed', 'started', 'finished', 'accepted', 'discarded')),
                        job BLOB,
                        lease_expires_at REAL,
                        claimed_at REAL NOT NULL,
                        started_at REAL,
                        finished_at REAL,
                        accepted_at REAL,
                        status TEXT,
                        result BLOB,
                        UNIQUE (job_id, attempt)
                    );
                    CREATE INDEX journal_state ON journal (state, finished_at);
                    CREATE TABLE outbox_logs (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, bytes INTEGER NOT NULL);
                    CREATE TABLE outbox_metrics (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, bytes INTEGER NOT NULL);
                    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                    """)
        }
        migrator.registerMigration("v2-approvals") { db in
            try db.execute(
                sql: """
                    CREATE TABLE approvals (
                        job_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        vm_name TEXT NOT NULL,
                        command TEXT NOT NULL,
                        requested_at REAL NOT NULL,
                        decision TEXT CHECK (decision IN ('approved', 'denied')),
                        decided_at REAL,
                        decided_by TEXT,
                        PRIMARY KEY (job_id, attempt)
                    );
                    """)
        }
        return migrator
    }

    /// The schema version: the migrations applied, in order.
    public func schemaVersion() throws(StoreError) -> [String] {
        try read("schema") { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: - Journal

    /// Journals newly claimed jobs (state claimed) and rejections (finished at once,
    /// their result in the outbox), in one transaction, before any of them runs.
    /// Claims alone commit without an fsync: should the machine lose them, no job that
    /// changes anything has started (such a start is durable and carries the claim to
    /// disk with it), the next claim's `held` leaves them out, and the control plane
    /// queues them again (a read may have run: running it again does no harm).
    ///
    /// The jobs in `started` are journaled as started at once (an early start: they run
    /// as soon as they reach the runner); like any start, they must not exec before
    /// `syncer` has flushed this write, except one that only reads (`JobRunner.openEarly`).
    public func journalClaimed(
        _ jobs: [Job], started: Set<JobRef> = [], rejected: [JobResult], at date: Date
    ) throws(StoreError) {
        let bodies = try jobs.map { job throws(StoreError) in (job, try Self.encode(job)) }
        let results = try rejected.map { result throws(StoreError) in (result, try Self.encode(result)) }
        try write("journal claimed jobs", durable: !rejected.isEmpty) { db in
            for (job, body) in bodies {
                keys.withLock { $0.insert(job.ref) }
                let early = started.contains(job.ref)
                try db.executeCached(
                    sql: """
                        INSERT INTO journal
                            (job_id, attempt, type, vm_name, state, job, lease_expires_at, claimed_at, started_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt) DO NOTHING
                        """,
                    arguments: [
                        job.id, job.attempt, job.type.rawValue, job.parameters.vmName,
                        early ? State.started.rawValue : State.claimed.rawValue, body,
                        job.leaseExpiresAt.timeIntervalSince1970, date.timeIntervalSince1970,
                        early ? date.timeIntervalSince1970 : nil,
                    ])
            }
            for (result, body) in results {
                keys.withLock { $0.insert(result.ref) }
                try db.executeCached(
                    sql: """
                        INSERT INTO journal (job_id, attempt, type, state, claimed_at, finished_at, status, result)
                        VALUES (?, ?, ?, 'finished', ?, ?, ?, ?) ON CONFLICT (job_id, attempt) DO NOTHING
                        """,
                    arguments: [
                        result.jobId, result.attempt, result.type, date.timeIntervalSince1970,
                        date.timeIntervalSince1970, result.status.rawValue, body,
                    ])
            }
        }
    }

    /// What the journal holds for (jobId, attempt), or nil.
    public func entry(_ ref: JobRef) throws(StoreError) -> Entry? {
        // A newly claimed job (the set is current and has no such ref): no read at all.
        if keys.withLock({ !$0.needsFill && !$0.mayHold(ref) }) { return nil }
        let row = try read("look up a job") { db -> Row? in
            if keys.withLock({ $0.needsFill }) {
                let refs = try Row.fetchAll(db, sql: "SELECT job_id, attempt FROM journal").map { row in
                    JobRef(jobId: row["job_id"], attempt: row["attempt"])
                }
                keys.withLock { $0.fill(refs) }
            }
            guard keys.withLock({ $0.mayHold(ref) }) else { return nil }
            return try Row.fetchOne(
                db.cachedStatement(sql: "SELECT state, result FROM journal WHERE job_id = ? AND attempt = ?"),
                arguments: [ref.jobId, ref.attempt])
        }
        guard let row else { return nil }
        let state: String = row["state"]
        switch State(rawValue: state) {
        case .claimed: return .claimed
        case .started: return .started
        case .finished: return .finished(try Self.decodeResult(row["result"], ref))
        case .accepted: return .accepted(try Self.decodeResult(row["result"], ref))
        case .discarded: return .discarded
        case nil: throw StoreError(.corrupt, "job \(ref.jobId) has an unknown state \(state)")
        }
    }

    /// Puts an accepted result back in the outbox: its job was delivered again.
    public func resend(_ ref: JobRef) throws(StoreError) {
        try write("resend a result") { db in
            try db.executeCached(
                sql: "UPDATE journal SET state = 'finished' WHERE job_id = ? AND attempt = ? AND state = 'accepted'",
                arguments: [ref.jobId, ref.attempt])
        }
    }

    /// Journals that the job is about to run. Written before the first limactl call
    /// execs: durable at once, or (`durable: false`) once `syncer.sync()` returns.
    public func markStarted(_ ref: JobRef, at date: Date, durable: Bool = true) throws(StoreError) {
        try write("journal a start", durable: durable) { db in
            try db.executeCached(
                sql: "UPDATE journal SET state = 'started', started_at = ? WHERE job_id = ? AND attempt = ?",
                arguments: [date.timeIntervalSince1970, ref.jobId, ref.attempt])
        }
    }

    /// Ends a job and commits its result to the outbox in the same write, without an
    /// fsync of its own: the reporter syncs the journal (`syncer`) before any result
    /// leaves the agent, one fsync for the whole batch. A power cut before that loses the
    /// result, not the start: the job is then reported `interrupted` and never run again.
    public func finish(_ result: JobResult, at date: Date) throws(StoreError) {
        let body = try Self.encode(result)
        try write("commit a result", durable: false) { db in
            keys.withLock { $0.insert(result.ref) }
            try db.executeCached(
                sql: """
                    INSERT INTO journal (job_id, attempt, type, state, claimed_at, finished_at, status, result)
                    VALUES (?, ?, ?, 'finished', ?, ?, ?, ?)
                    ON CONFLICT (job_id, attempt) DO UPDATE SET
                        state = 'finished', finished_at = excluded.finished_at, status = excluded.status,
                        result = excluded.result, job = NULL
                    """,
                arguments: [
                    result.jobId, result.attempt, result.type, date.timeIntervalSince1970,
                    date.timeIntervalSince1970, result.status.rawValue, body,
                ])
        }
        results.withLock { $0.insert(result, encodedBytes: body.count) }
    }

    /// Results the control plane accepted leave the outbox; the newest are kept for re-deliveries.
    /// Without an fsync: should the machine lose it, the results go out again and the
    /// control plane answers them as duplicates.
    public func accept(_ refs: [JobRef], at date: Date) throws(StoreError) {
        guard !refs.isEmpty else { return }
        try write("record accepted results", durable: false) { db in
            for ref in refs {
                try db.executeCached(
                    sql: """
                        UPDATE journal SET state = 'accepted', accepted_at = ?
                        WHERE job_id = ? AND attempt = ? AND state = 'finished'
                        """,
                    arguments: [date.timeIntervalSince1970, ref.jobId, ref.attempt])
            }
            try db.executeCached(
                sql: """
                    DELETE FROM journal WHERE state IN ('accepted', 'discarded') AND seq NOT IN (
                        SELECT seq FROM journal WHERE state IN ('accepted', 'discarded')
                        ORDER BY accepted_at DESC, seq DESC LIMIT ?)
                    """,
                arguments: [Self.acceptedKept])
        }
        results.withLock { cache in for ref in refs { cache.remove(ref) } }
    }

    /// Drops a result the control plane refuses (400 after bisection). The row stays,
    /// marked, so a re-delivery of the same (jobId, attempt) is neither run nor answered.
    public func discard(_ ref: JobRef, at date: Date) throws(StoreError) {
        try write("discard a result") { db in
            try db.executeCached(
                sql: """
                    UPDATE journal SET state = 'discarded', accepted_at = ?, result = NULL
                    WHERE job_id = ? AND attempt = ?
                    """,
                arguments: [date.timeIntervalSince1970, ref.jobId, ref.attempt])
            try Self.bump("discardedResults", by: 1, db)
        }
        results.withLock { $0.remove(ref) }
    }

    /// Records renewed leases, so a restart knows whether a claimed job is still ours.
    public func renew(_ leases: [(JobRef, Date)]) throws(StoreError) {
        guard !leases.isEmpty else { return }
        try write("record leases", durable: false) { db in
            for (ref, expiry) in leases {
                try db.executeCached(
                    sql: "UPDATE journal SET lease_expires_at = ? WHERE job_id = ? AND attempt = ?",
                    arguments: [expiry.timeIntervalSince1970, ref.jobId, ref.attempt])
            }
        }
    }

    /// Results waiting for an `accepted`, oldest first. Small ones come from `results`;
    /// the others are read and decoded from their rows.
    public func pendingResults(limit: Int = Int.max) throws(StoreError) -> [JobResult] {
        let refs = try read("read the outbox") { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT job_id, attempt FROM journal WHERE state = 'finished'
                        ORDER BY finished_at, seq LIMIT ?
                        """),
                arguments: [min(limit, Int(Int32.max))]
            ).map { JobRef(jobId: $0["job_id"], attempt: $0["attempt"]) }
        }
        let cached = results.withLock { cache in refs.map { cache.result($0) } }
        let misses = zip(refs, cached).filter { $0.1 == nil }.map(\.0)
        // The misses' bodies in one read (after a restart every pending result is a miss).
        let bodies: [Data?] =
            misses.isEmpty
            ? []
            : try read("read results") { db in
                let statement = try db.cachedStatement(
                    sql: "SELECT result FROM journal WHERE job_id = ? AND attempt = ?")
                return try misses.map { ref in
                    try Data.fetchOne(statement, arguments: [ref.jobId, ref.attempt])
                }
            }
        let decoded = Dictionary(
            try zip(misses, bodies).map { ref, body throws(StoreError) in (ref, try Self.decodeResult(body, ref)) },
            uniquingKeysWith: { first, _ in first })
        return zip(refs, cached).compactMap { ref, hit in hit ?? decoded[ref] }
    }

    // MARK: - Recovery

    /// Crash recovery, run once before anything else at start:
    /// - a job that started and never finished gets an `interrupted` result
    ///   (`agent_restarted`): its effects are unknown, so it is never run again;
    /// - a job claimed and never started is returned to run, if its lease still holds;
    ///   one whose lease ran out is forgotten, for the control plane has taken it back;
    /// - every result still waiting for an `accepted` is returned to send first.
    public func recover(now: Date) throws(StoreError) -> StoreRecovery {
        var recovery = StoreRecovery()
        let rows = try read("read the journal") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT job_id, attempt, type, state, job, lease_expires_at, started_at FROM journal
                    WHERE state IN ('claimed', 'started') ORDER BY seq
                    """)
        }
        var interrupted: [JobResult] = []
        for row in rows {
            let ref = JobRef(jobId: row["job_id"], attempt: row["attempt"])
            let state: String = row["state"]
            if state == State.started.rawValue {
                let startedAt = (row["started_at"] as Double?).map { Date(timeIntervalSince1970: $0) } ?? now
                interrupted.append(Self.interruptedResult(ref, type: row["type"], startedAt: startedAt, now: now))
                continue
            }
            let lease = (row["lease_expires_at"] as Double?).map { Date(timeIntervalSince1970: $0) }
            guard let lease, lease > now, let body = row["job"] as Data?,
                case .valid(var job) = JobDecoder.decode(
                    try Self.decode(JSONValue.self, body, what: "job \(ref.jobId)"))
            else {
                recovery.expired.append(ref)
                continue
            }
            job.leaseExpiresAt = lease
            recovery.resumable.append(job)
        }
        for result in interrupted { try finish(result, at: now) }
        recovery.interrupted = interrupted.map(\.ref)
        let expired = recovery.expired
        if !expired.isEmpty {
            try write("forget expired claims") { db in
                for ref in expired {
                    try db.executeCached(
                        sql: "DELETE FROM journal WHERE job_id = ? AND attempt = ? AND state = 'claimed'",
                        arguments: [ref.jobId, ref.attempt])
                }
            }
        }
        recovery.pending = try pendingResults()
        return recovery
    }

    static func interruptedResult(_ ref: JobRef, type: String, startedAt: Date, now: Date) -> JobResult {
        JobResult(
            jobId: ref.jobId, attempt: ref.attempt, type: type, status: .interrupted, startedAt: startedAt,
            finishedAt: now, duration: max(0, Int((now.timeIntervalSince(startedAt) * 1000).rounded())),
            error: WireError(
                code: .agentRestarted,
                message: "the agent stopped while the job ran (started \(RFC3339.format(startedAt))); "
                    + "its effects are unknown and it was not run again"))
    }

    // MARK: - Counters

    /// A named counter (dropped logs and metrics, discarded results).
    public func counter(_ name: String) throws(StoreError) -> Int {
        try read("read a counter") { db in
            try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = ?", arguments: [name]) ?? 0
        }
    }

    static func bump(_ name: String, by amount: Int, _ db: Database) throws {
        guard amount > 0 else { return }
        try db.executeCached(
            sql: """
                INSERT INTO counters (name, value) VALUES (?, ?)
                ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
                """,
            arguments: [name, amount])
    }

    // MARK: - Plumbing

    /// One transaction. `durable` (the default: rejections, resends, discards, approvals)
    /// keeps `synchronous = FULL`: on disk when this returns, power loss included. The
    /// rest commits with `synchronous = NORMAL`: safe from a crash of the agent, without an
    /// fsync of its own. Starts and results then wait for `syncer` (starts before their
    /// child execs, results before they are reported); claims, acceptances, leases, logs
    /// and metrics ride on the next fsync. Fewer fsyncs keep the two cooperative threads free.
    func write<T>(_ what: String, durable: Bool = true, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            if durable { return try database.write(body) }
            return try database.writeWithoutTransaction { db in
                try db.executeCached(sql: "PRAGMA synchronous = NORMAL")
                defer { try? db.executeCached(sql: "PRAGMA synchronous = FULL") }
                var value: [T] = []
                try db.inTransaction {
                    value = [try body(db)]
                    return .commit
                }
                guard let first = value.first else { throw StoreError(.io, "state store: \(what) returned nothing") }
                return first
            }
        } catch {
            // It may have rolled back changes the counts had taken in: count again.
            queued.withLock { $0 = nil }
            if let error = error as? StoreError { throw error }
            throw StoreError(.io, "state store: cannot \(what): \(error)")
        }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try database.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "state store: cannot \(what): \(error)")
        }
    }

    static func encode(_ value: some Encodable) throws(StoreError) -> Data {
        do {
            return try WireJSON.encoder().encode(value)
        } catch {
            throw StoreError(.corrupt, "cannot encode \(type(of: value)): \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws(StoreError) -> T {
        do {
            return try WireJSON.decoder().decode(type, from: data)
        } catch {
            throw StoreError(.corrupt, "cannot decode \(what) from the state store: \(error)")
        }
    }

    static func decodeResult(_ data: Data?, _ ref: JobRef) throws(StoreError) -> JobResult {
        guard let data else { throw StoreError(.corrupt, "the result of job \(ref.jobId) is missing") }
        return try decode(JobResult.self, data, what: "the result of job \(ref.jobId)")
    }
}
