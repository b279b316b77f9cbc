import Foundation
import Logging
import Models

/// `security.requireCommandApproval`: an `execute_command` job waits here, before it
/// takes its VM's turn, until an operator on the host decides with
/// `limahost-agent approvals approve|deny ID`. The job stays held, so every heartbeat
/// keeps its lease alive. The decision comes through the state store, which the
/// command shares with the running agent; the gate reads it every `pollInterval`.
public struct ApprovalGate: Sendable {
    public enum Outcome: Sendable, Equatable {
        case approved
        /// The job is to end with this result (denied, timed out) or has ended already (cancelled).
        case refused(JobResult?)
    }

    let store: StateStore
    let book: JobBook
    let timeout: Duration
    let pollInterval: Duration
    let logger: Logger
    let clock: ContinuousClock
    let now: @Sendable () -> Date

    public init(
        store: StateStore, book: JobBook, timeout: Duration, logger: Logger,
        pollInterval: Duration = .milliseconds(250),
        clock: ContinuousClock = ContinuousClock(), now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.book = book
        self.timeout = timeout
        self.pollInterval = pollInterval
        self.logger = logger
        self.clock = clock
        self.now = now
    }

    /// Whether the job needs a decision at all.
    public static func applies(to job: Job) -> Bool {
        if case .executeCommand = job.parameters { return true }
        return false
    }

    public func decide(_ job: Job) async -> Outcome {
        guard case .executeCommand(let parameters) = job.parameters else { return .approved }
        let request = ApprovalRequest(
            ref: job.ref, vmName: parameters.vmName, command: ApprovalRequest.describe(parameters.command),
            requestedAt: now())
        do throws(StoreError) {
            try store.requestApproval(request)
        } catch {
            return .refused(result(job, .internal, "cannot record the approval request: \(error.message)"))
        }
        logger.notice(
            "a command waits for approval: limahost-agent approvals approve \(job.id) (or deny)",
            metadata: ["job": .string(job.id), "vm": .string(parameters.vmName), "command": .string(request.command)])
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            guard await book.isWaiting(job.ref) else {
                // Cancelled while it waited: nothing is left to decide.
                close(job.ref)
                return .refused(nil)
            }
            let stored: ApprovalRequest?
            do throws(StoreError) {
                stored = try store.approval(job.ref)
            } catch {
                logger.warning("cannot read an approval", metadata: ["error": .string(error.message)])
                stored = nil
            }
            switch stored?.decision {
            case .approved?:
                logger.notice(
                    "command approved", metadata: ["job": .string(job.id), "by": .string(stored?.decidedBy ?? "?")])
                close(job.ref)
                return .approved
            case .denied?:
                close(job.ref)
                return .refused(
                    result(job, .approvalDenied, "denied on the host by \(stored?.decidedBy ?? "an operator")"))
            case nil:
                try? await clock.sleep(for: pollInterval)
            }
        }
        close(job.ref)
        return .refused(
            result(
                job, .approvalTimeout,
                "nobody approved the command within security.approvalTimeout (\(timeout.components.seconds) s)"))
    }

    private func close(_ ref: JobRef) {
        do throws(StoreError) {
            try store.closeApproval(ref)
        } catch {
            logger.warning("cannot close an approval", metadata: ["error": .string(error.message)])
        }
    }

    private func result(_ job: Job, _ code: ErrorCode, _ message: String) -> JobResult {
        let date = now()
        return JobResult(
            jobId: job.id, attempt: job.attempt, type: job.type.rawValue, status: .rejected, startedAt: date,
            finishedAt: date, duration: 0, error: WireError(code: code, message: message))
    }
}
