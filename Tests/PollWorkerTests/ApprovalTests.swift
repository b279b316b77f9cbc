import Foundation
import Models
import Testing

@testable import PollWorker

private func approvalRequest(
    _ jobId: String = "job-1", attempt: Int = 1, vm: String = "dev", command: String = "uptime",
    at date: Date = fixedNow
) -> ApprovalRequest {
    ApprovalRequest(ref: JobRef(jobId: jobId, attempt: attempt), vmName: vm, command: command, requestedAt: date)
}

/// An execute_command job on `dev`.
private func executeJob(_ id: String = "job-1", command: JobParameters.ExecuteCommand.Command = .shell("uptime"))
    -> Job
{
    Job(
        id: id, attempt: 1, leaseExpiresAt: fixedNow.addingTimeInterval(300),
        parameters: .executeCommand(.init(vmName: "dev", command: command)))
}

/// A book over `store` that holds `job`, waiting to run.
private func bookHolding(_ job: Job, store: StateStore) async throws -> JobBook {
    let book = JobBook(maxConcurrent: 3, store: store, bells: [], logger: testLogger, now: { fixedNow })
    #expect(try await book.admitJobs([.valid(job)]) == [job])
    #expect(await book.isWaiting(job.ref))
    return book
}

private func gate(store: StateStore, book: JobBook, timeout: Duration = .seconds(5)) -> ApprovalGate {
    ApprovalGate(
        store: store, book: book, timeout: timeout, logger: testLogger, pollInterval: .milliseconds(10),
        now: { fixedNow })
}

/// The result a refusal carries, or nil (approved, or refused without a result).
private func refusedResult(_ outcome: ApprovalGate.Outcome) -> JobResult? {
    if case .refused(let result) = outcome { return result }
    return nil
}

/// The pending requests once there are any, or none after ten seconds.
private func waitForPending(_ store: StateStore) async throws -> [ApprovalRequest] {
    let deadline = ContinuousClock.now.advanced(by: .seconds(10))
    var pending = try store.pendingApprovals()
    while pending.isEmpty && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(5))
        pending = try store.pendingApprovals()
    }
    return pending
}

@Suite("StateStore: approvals")
struct ApprovalStoreTests {
    @Test("Requesting approval twice keeps the first request")
    func requestTwice() throws {
        let store = try makeStore()
        try store.requestApproval(approvalRequest(command: "uptime", at: fixedNow))
        try store.requestApproval(approvalRequest(command: "reboot", at: fixedNow.addingTimeInterval(60)))
        let pending = try store.pendingApprovals()
        #expect(pending == [approvalRequest(command: "uptime", at: fixedNow)])
    }

    @Test("Pending requests come oldest first")
    func pendingOrder() throws {
        let store = try makeStore()
        try store.requestApproval(approvalRequest("job-2", at: fixedNow.addingTimeInterval(10)))
        try store.requestApproval(approvalRequest("job-1", at: fixedNow))
        #expect(try store.pendingApprovals().map(\.ref.jobId) == ["job-1", "job-2"])
    }

    @Test(
        "A decision records who decided and when, and counts the requests decided",
        arguments: [ApprovalRequest.Decision.approved, .denied])
    func decide(decision: ApprovalRequest.Decision) throws {
        let store = try makeStore()
        let request = approvalRequest()
        try store.requestApproval(request)
        let decidedAt = fixedNow.addingTimeInterval(5)
        #expect(try store.decide(jobId: "job-1", decision, by: "alice", at: decidedAt) == 1)
        let stored = try #require(try store.approval(request.ref))
        #expect(stored.decision == decision)
        #expect(stored.decidedBy == "alice")
        #expect(stored.decidedAt == decidedAt)
        #expect(stored.command == "uptime")
        #expect(stored.requestedAt == fixedNow)
    }

    @Test("A decision for a job with no request decides nothing")
    func decideUnknown() throws {
        let store = try makeStore()
        try store.requestApproval(approvalRequest())
        #expect(try store.decide(jobId: "job-404", .approved, by: "alice", at: fixedNow) == 0)
        #expect(try store.pendingApprovals().count == 1)
    }

    @Test("A decided request is no longer pending and cannot be decided again")
    func decidedNotPending() throws {
        let store = try makeStore()
        try store.requestApproval(approvalRequest())
        #expect(try store.decide(jobId: "job-1", .denied, by: "alice", at: fixedNow) == 1)
        #expect(try store.pendingApprovals().isEmpty)
        #expect(try store.decide(jobId: "job-1", .approved, by: "bob", at: fixedNow) == 0)
        let stored = try #require(try store.approval(JobRef(jobId: "job-1", attempt: 1)))
        #expect(stored.decision == .denied)
        #expect(stored.decidedBy == "alice")
    }

    @Test("A decision covers every pending attempt of the job id")
    func decideEveryAttempt() throws {
        let store = try makeStore()
        try store.requestApproval(approvalRequest(attempt: 1))
        try store.requestApproval(approvalRequest(attempt: 2))
        try store.requestApproval(approvalRequest("job-2"))
        #expect(try store.decide(jobId: "job-1", .approved, by: "alice", at: fixedNow) == 2)
        #expect(try store.pendingApprovals().map(\.ref) == [JobRef(jobId: "job-2", attempt: 1)])
    }

    @Test("Closing a request removes it")
    func closeRemoves() throws {
        let store = try makeStore()
        let request = approvalRequest()
        try store.requestApproval(request)
        try store.closeApproval(request.ref)
        #expect(try store.approval(request.ref) == nil)
        #expect(try store.pendingApprovals().isEmpty)
        #expect(try store.decide(jobId: "job-1", .approved, by: "alice", at: fixedNow) == 0)
    }

    @Test("A request and its decision survive reopening the store")
    func survivesReopen() throws {
        let directory = makeStateDirectory()
        try makeStore(directory: directory).requestApproval(approvalRequest())
        let reopened = try makeStore(directory: directory)
        #expect(try reopened.pendingApprovals() == [approvalRequest()])
    }
}

@Suite("ApprovalRequest.describe")
struct ApprovalDescribeTests {
    @Test("A command string is shown as it is")
    func shell() {
        #expect(ApprovalRequest.describe(.shell("ls -la | wc -l; echo 'done'")) == "ls -la | wc -l; echo 'done'")
    }

    @Test(
        "argv words are quoted only when they need it",
        arguments: [
            (["echo", "a b", "it's"], #"echo 'a b' 'it'\''s'"#),
            (
                ["ls", "-la", "/tmp/x.log", "a=b", "user@host:22", "50%", "+x,y"],
                "ls -la /tmp/x.log a=b user@host:22 50% +x,y"
            ),
            (["printf", ""], "printf ''"),
            (["sh", "-c", "echo $HOME; id"], "sh -c 'echo $HOME; id'"),
            (["echo", "*"], "echo '*'"),
        ])
    func argv(words: [String], shown: String) {
        #expect(ApprovalRequest.describe(.argv(words)) == shown)
    }
}

@Suite("ApprovalGate")
struct ApprovalGateTests {
    @Test("Only execute_command jobs need a decision; others are approved at once")
    func applies() async throws {
        #expect(ApprovalGate.applies(to: executeJob()))
        let other = makeJob("job-2", vm: "dev")
        #expect(!ApprovalGate.applies(to: other))
        let store = try makeStore()
        let book = try await bookHolding(other, store: store)
        #expect(await gate(store: store, book: book).decide(other) == .approved)
        #expect(try store.pendingApprovals().isEmpty)
    }

    @Test("An approval already recorded is picked up at once, and the request closed")
    func approvedBefore() async throws {
        let store = try makeStore()
        let job = executeJob()
        let book = try await bookHolding(job, store: store)
        try store.requestApproval(approvalRequest())
        #expect(try store.decide(jobId: job.id, .approved, by: "alice", at: fixedNow) == 1)
        #expect(await gate(store: store, book: book).decide(job) == .approved)
        #expect(try store.approval(job.ref) == nil)
    }

    @Test("A denial is a rejected result with approval_denied naming the operator")
    func deniedBefore() async throws {
        let store = try makeStore()
        let job = executeJob()
        let book = try await bookHolding(job, store: store)
        try store.requestApproval(approvalRequest())
        #expect(try store.decide(jobId: job.id, .denied, by: "alice", at: fixedNow) == 1)
        let outcome = await gate(store: store, book: book).decide(job)
        let result = try #require(refusedResult(outcome))
        #expect(result.ref == job.ref)
        #expect(result.type == "execute_command")
        #expect(result.status == .rejected)
        #expect(result.error?.code == .approvalDenied)
        #expect(result.error?.message.contains("alice") == true)
        #expect(try store.approval(job.ref) == nil)
    }

    @Test("A decision made while the job waits is picked up")
    func approvedWhileWaiting() async throws {
        let store = try makeStore()
        let job = executeJob(command: .argv(["echo", "a b"]))
        let book = try await bookHolding(job, store: store)
        let subject = gate(store: store, book: book)
        let waiting = Task { await subject.decide(job) }
        let pending = try await waitForPending(store)
        #expect(pending == [approvalRequest(command: "echo 'a b'")])
        #expect(try store.decide(jobId: job.id, .approved, by: "alice", at: fixedNow) == 1)
        #expect(await waiting.value == .approved)
    }

    @Test("Nobody deciding within the timeout is a rejected result with approval_timeout")
    func timesOut() async throws {
        let store = try makeStore()
        let job = executeJob()
        let book = try await bookHolding(job, store: store)
        let outcome = await gate(store: store, book: book, timeout: .milliseconds(50)).decide(job)
        let result = try #require(refusedResult(outcome))
        #expect(result.status == .rejected)
        #expect(result.error?.code == .approvalTimeout)
        #expect(result.error?.message.contains("security.approvalTimeout") == true)
        #expect(try store.approval(job.ref) == nil)
    }

    @Test("A job cancelled before its turn is refused with no result of the gate's own")
    func cancelledBefore() async throws {
        let store = try makeStore()
        let job = executeJob()
        let book = try await bookHolding(job, store: store)
        await book.cancel(jobIds: [job.id], reason: .controlPlane)
        #expect(await gate(store: store, book: book).decide(job) == .refused(nil))
    }

    @Test("A job cancelled while it waits for a decision is refused with no result of the gate's own")
    func cancelledWhileWaiting() async throws {
        let store = try makeStore()
        let job = executeJob()
        let book = try await bookHolding(job, store: store)
        let subject = gate(store: store, book: book)
        let waiting = Task { await subject.decide(job) }
        #expect(try await waitForPending(store).count == 1)
        await book.cancel(jobIds: [job.id], reason: .controlPlane)
        #expect(await waiting.value == .refused(nil))
        // The book ended the job itself: cancelled, by the control plane.
        let results = await book.pendingResults(limit: 10)
        #expect(results.map(\.status) == [.cancelled])
    }
}

@Suite("ApprovalDesk")
struct ApprovalDeskTests {
    private let out = Collected<String>()
    private let err = Collected<String>()

    private func desk(_ files: [String: String]) -> ApprovalDesk {
        ApprovalDesk(
            loader: memoryLoader(files), operatorName: "alice", writeOut: { [out] in out.append($0) },
            writeErr: { [err] in err.append($0) }, now: { fixedNow })
    }

    /// A desk whose configuration file sets only `stateDir`.
    private func desk(stateDir: String) -> ApprovalDesk {
        desk([ConfigSources.defaultPath: #"{"stateDir": "\#(stateDir)"}"#])
    }

    @Test("Listing with nothing pending says so")
    func listEmpty() {
        #expect(desk(stateDir: makeStateDirectory()).run(.list, sources: configSources()) == .ok)
        #expect(out.all == ["no command waits for approval\n"])
        #expect(err.all.isEmpty)
    }

    @Test("Listing shows a header and one line per waiting command")
    func listPending() throws {
        let directory = makeStateDirectory()
        let store = try makeStore(directory: directory)
        try store.requestApproval(approvalRequest("job-7", vm: "web", command: "uptime -p"))
        #expect(desk(stateDir: directory).run(.list, sources: configSources()) == .ok)
        let lines = out.all.joined().split(separator: "\n").map(String.init)
        try #require(lines.count == 2)
        #expect(lines.first == "JOB\tATTEMPT\tVM\tWAITING SINCE\tCOMMAND")
        #expect(lines.last == "job-7\t1\tweb\t\(RFC3339.format(fixedNow))\tuptime -p")
        #expect(err.all.isEmpty)
    }

    @Test("A command's newlines are shown escaped, one line per command")
    func listNewline() throws {
        let directory = makeStateDirectory()
        try makeStore(directory: directory).requestApproval(approvalRequest(command: "echo a\necho b"))
        #expect(desk(stateDir: directory).run(.list, sources: configSources()) == .ok)
        let lines = out.all.joined().split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.last?.hasSuffix(#"echo a\necho b"#) == true)
    }

    @Test("Deciding records the decision and says so", arguments: [ApprovalRequest.Decision.approved, .denied])
    func decide(decision: ApprovalRequest.Decision) throws {
        let directory = makeStateDirectory()
        let store = try makeStore(directory: directory)
        let request = approvalRequest("job-7")
        try store.requestApproval(request)
        #expect(desk(stateDir: directory).run(.decide(jobId: "job-7", decision), sources: configSources()) == .ok)
        #expect(out.all == ["\(decision.rawValue) job-7\n"])
        #expect(err.all.isEmpty)
        let stored = try #require(try store.approval(request.ref))
        #expect(stored.decision == decision)
        #expect(stored.decidedBy == "alice")
        #expect(stored.decidedAt == fixedNow)
    }

    @Test("Deciding on a job id nothing waits under is a configuration error")
    func decideUnknown() {
        let status = desk(stateDir: makeStateDirectory()).run(
            .decide(jobId: "job-404", .approved), sources: configSources())
        #expect(status == .configuration)
        #expect(out.all.isEmpty)
        #expect(err.all.joined().contains("no command waits for approval under job id job-404"))
    }

    @Test("A configuration file that cannot be read is a configuration error")
    func unreadableConfiguration() {
        #expect(desk([:]).run(.list, sources: configSources()) == .configuration)
        #expect(out.all.isEmpty)
        let message = err.all.joined()
        #expect(message.hasPrefix("limahost-agent approvals: "))
        #expect(message.contains(ConfigSources.defaultPath))
    }

    @Test("A relative stateDir is a configuration error")
    func relativeStateDir() {
        #expect(desk(stateDir: "relative/state").run(.list, sources: configSources()) == .configuration)
        #expect(out.all.isEmpty)
        #expect(err.all.joined().contains("stateDir"))
    }
}
