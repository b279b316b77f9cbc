import Foundation
import GRDB
import Models

/// Approvals shared between the running agent and `limahost-agent approvals …`
/// through the same database (WAL lets both use it at once).
extension StateStore {
    /// Records that a job waits for a decision; an existing request (after a restart) is kept.
    public func requestApproval(_ request: ApprovalRequest) throws(StoreError) {
        try write("record an approval request", durable: false) { db in
            try db.execute(
                sql: """
                    INSERT INTO approvals (job_id, attempt, vm_name, command, requested_at)
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt) DO NOTHING
                    """,
                arguments: [
                    request.ref.jobId, request.ref.attempt, request.vmName, request.command,
                    request.requestedAt.timeIntervalSince1970,
                ])
        }
    }

    /// The request for (jobId, attempt), with its decision once made.
    public func approval(_ ref: JobRef) throws(StoreError) -> ApprovalRequest? {
        try read("read an approval") { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM approvals WHERE job_id = ? AND attempt = ?",
                arguments: [ref.jobId, ref.attempt]
            ).map(Self.approvalRequest)
        }
    }

    /// Requests still waiting for a decision, oldest first.
    public func pendingApprovals() throws(StoreError) -> [ApprovalRequest] {
        try read("list approvals") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM approvals WHERE decision IS NULL ORDER BY requested_at")
                .map(Self.approvalRequest)
        }
    }

    /// Decides every pending request of `jobId`; returns how many were decided.
    public func decide(jobId: String, _ decision: ApprovalRequest.Decision, by who: String, at date: Date)
        throws(StoreError) -> Int
    {
        try write("record a decision", durable: false) { db in
            try db.execute(
                sql: """
                    UPDATE approvals SET decision = ?, decided_at = ?, decided_by = ?
                    WHERE job_id = ? AND decision IS NULL
                    """,
                arguments: [decision.rawValue, date.timeIntervalSince1970, who, jobId])
            return db.changesCount
        }
    }

    /// Forgets the request once its job has ended.
    public func closeApproval(_ ref: JobRef) throws(StoreError) {
        try write("close an approval", durable: false) { db in
            try db.execute(
                sql: "DELETE FROM approvals WHERE job_id = ? AND attempt = ?", arguments: [ref.jobId, ref.attempt])
        }
    }

    static func approvalRequest(_ row: Row) -> ApprovalRequest {
        let decision: String? = row["decision"]
        return ApprovalRequest(
            ref: JobRef(jobId: row["job_id"], attempt: row["attempt"]), vmName: row["vm_name"], command: row["command"],
            requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
            decision: decision.flatMap(ApprovalRequest.Decision.init(rawValue:)),
            decidedAt: (row["decided_at"] as Double?).map { Date(timeIntervalSince1970: $0) },
            decidedBy: row["decided_by"])
    }
}
