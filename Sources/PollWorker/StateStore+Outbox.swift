import Foundation
import GRDB
import Models

/// The bounded part of the outbox: log chunks and metrics samples waiting to be
/// reported. Results count toward `maxOutboxBytes` but are never dropped; when the
/// bound is passed, the oldest metrics samples go first, then the oldest log
/// chunks, each counted (`droppedMetrics`, `droppedLogs`).
extension StateStore {
    public enum Queue: String, Sendable {
        case logs = "outbox_logs"
        case metrics = "outbox_metrics"

        var droppedCounter: String { self == .logs ? "droppedLogs" : "droppedMetrics" }
    }

    public func enqueueLogs(_ chunks: [LogChunk]) throws(StoreError) {
        try enqueue(chunks, into: .logs)
    }

    public func enqueueMetrics(_ samples: [MetricsSample]) throws(StoreError) {
        try enqueue(samples, into: .metrics)
    }

    private func enqueue(_ items: [some Encodable], into queue: Queue) throws(StoreError) {
        guard !items.isEmpty else { return }
        let bodies = try items.map { item throws(StoreError) in try Self.encode(item) }
        let bound = maxOutboxBytes
        try write("queue \(queue == .logs ? "log chunks" : "metrics")", durable: false) { db in
            let known = try queuedCount(queue, db)
            for body in bodies {
                try db.execute(
                    sql: "INSERT INTO \(queue.rawValue) (body, bytes) VALUES (?, ?)", arguments: [body, body.count])
            }
            queued.withLock { $0?[queue] = known + bodies.count }
            if try Self.enforceBound(bound, db) { queued.withLock { $0 = nil } }
        }
    }

    /// The rows in `queue`, counted once and then followed in memory; call it only
    /// inside a database call, so counting and changes stay in order.
    private func queuedCount(_ queue: Queue, _ db: Database) throws -> Int {
        if let count = queued.withLock({ $0?[queue] }) { return count }
        var counts: [Queue: Int] = [:]
        for each in [Queue.logs, .metrics] {
            counts[each] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(each.rawValue)") ?? 0
        }
        queued.withLock { $0 = counts }
        return counts[queue] ?? 0
    }

    /// Drops the oldest metrics, then the oldest logs, until the outbox fits its bound.
    /// Whether it dropped any.
    static func enforceBound(_ bound: Int, _ db: Database) throws -> Bool {
        var excess = try outboxBytes(db) - bound
        let over = excess > 0
        for queue in [Queue.metrics, .logs] where excess > 0 {
            let rows = try Row.fetchAll(db, sql: "SELECT seq, bytes FROM \(queue.rawValue) ORDER BY seq")
            var dropped = 0
            var lastSeq: Int64?
            for row in rows where excess > 0 {
                let bytes: Int = row["bytes"]
                excess -= bytes
                dropped += 1
                lastSeq = row["seq"]
            }
            guard let lastSeq else { continue }
            try db.execute(sql: "DELETE FROM \(queue.rawValue) WHERE seq <= ?", arguments: [lastSeq])
            try bump(queue.droppedCounter, by: dropped, db)
        }
        return over
    }

    /// Bytes in the outbox: pending results, log chunks and metrics samples.
    static func outboxBytes(_ db: Database) throws -> Int {
        try Int.fetchOne(
            db,
            sql: """
                SELECT (SELECT IFNULL(SUM(LENGTH(result)), 0) FROM journal WHERE state = 'finished')
                     + (SELECT IFNULL(SUM(bytes), 0) FROM outbox_logs)
                     + (SELECT IFNULL(SUM(bytes), 0) FROM outbox_metrics)
                """) ?? 0
    }

    public func outboxBytes() throws(StoreError) -> Int {
        try read("measure the outbox") { db in try Self.outboxBytes(db) }
    }

    /// The oldest queued log chunks, with the sequence numbers to delete them by.
    public func pendingLogs(limit: Int) throws(StoreError) -> [(seq: Int64, chunk: LogChunk)] {
        try pending(LogChunk.self, from: .logs, limit: limit)
    }

    public func pendingMetrics(limit: Int) throws(StoreError) -> [(seq: Int64, sample: MetricsSample)] {
        try pending(MetricsSample.self, from: .metrics, limit: limit).map { ($0.seq, $0.chunk) }
    }

    private func pending<T: Decodable>(_ type: T.Type, from queue: Queue, limit: Int) throws(StoreError)
        -> [(seq: Int64, chunk: T)]
    {
        // Nothing queued (as counted): no read. An idle agent's reports carry no logs.
        if queued.withLock({ $0?[queue] }) == 0 { return [] }
        let rows = try read("read the outbox") { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, body FROM \(queue.rawValue) ORDER BY seq LIMIT ?",
                arguments: [min(limit, Int(Int32.max))])
        }
        return try rows.map { row throws(StoreError) in
            let body: Data = row["body"]
            return (row["seq"], try Self.decode(type, body, what: "an outbox entry"))
        }
    }

    /// Removes delivered (or discarded) entries.
    public func remove(_ seqs: [Int64], from queue: Queue, discarded: Bool = false) throws(StoreError) {
        guard !seqs.isEmpty else { return }
        try write("remove outbox entries", durable: false) { db in
            let known = try queuedCount(queue, db)
            var removed = 0
            for seq in seqs {
                try db.execute(sql: "DELETE FROM \(queue.rawValue) WHERE seq = ?", arguments: [seq])
                removed += db.changesCount
            }
            queued.withLock { $0?[queue] = known - removed }
            if discarded { try Self.bump(queue == .logs ? "discardedLogs" : "discardedMetrics", by: seqs.count, db) }
        }
    }

    /// Rows waiting in `queue`: counted once, then followed in memory.
    public func pendingCount(_ queue: Queue) throws(StoreError) -> Int {
        if let count = queued.withLock({ $0?[queue] }) { return count }
        return try read("count the outbox") { db in try queuedCount(queue, db) }
    }
}
