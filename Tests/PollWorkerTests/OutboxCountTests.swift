import Foundation
import GRDB
import Models
import Testing

@testable import PollWorker

/// The rows in `queue` as the table holds them.
private func tableCount(_ store: StateStore, _ queue: StateStore.Queue) throws -> Int {
    try store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(queue.rawValue)") ?? 0 }
}

private func chunk(_ seq: Int, _ text: String = "line\n") -> LogChunk {
    LogChunk(jobId: "job-1", seq: seq, stream: .stdout, at: fixedNow, text: text)
}

@Suite("Outbox counts: followed in memory, always the table's")
struct OutboxCountTests {
    @Test("Counts follow queueing, removal (of rows gone already too) and a reopen")
    func followTheTable() throws {
        let directory = makeStateDirectory()
        try makeStore(directory: directory).enqueueLogs([chunk(1), chunk(2)])
        let store = try makeStore(directory: directory)
        #expect(try store.pendingCount(.logs) == 2)
        #expect(try store.pendingCount(.metrics) == 0)
        #expect(try store.pendingMetrics(limit: 10).isEmpty)

        try store.enqueueLogs([chunk(3)])
        let pending = try store.pendingLogs(limit: 10)
        #expect(pending.map(\.chunk.seq) == [1, 2, 3])
        try store.remove([pending[0].seq], from: .logs)
        // Removed again (a batch delivered twice): nothing changes, nor does the count.
        try store.remove([pending[0].seq, pending[1].seq], from: .logs)
        #expect(try store.pendingCount(.logs) == 1)
        #expect(try tableCount(store, .logs) == 1)

    }

    @Test("A write that fails after the count took its rows in rolls back, and the count with it")
    func rolledBack() throws {
        // Room for one chunk: the second makes the bound drop the first, and that drop fails.
        let store = try makeStore(maxOutboxBytes: 300)
        try store.enqueueLogs([chunk(1, String(repeating: "x", count: 100))])
        #expect(try store.pendingCount(.logs) == 1)
        try store.database.write { db in
            try db.execute(
                sql: "CREATE TRIGGER keep BEFORE DELETE ON outbox_logs BEGIN SELECT RAISE(ABORT, 'kept'); END")
        }
        #expect(throws: StoreError.self) { try store.enqueueLogs([chunk(2, String(repeating: "y", count: 100))]) }
        #expect(try tableCount(store, .logs) == 1)
        #expect(try store.pendingCount(.logs) == 1)
        #expect(try store.pendingLogs(limit: 10).map(\.chunk.seq) == [1])
    }
}
