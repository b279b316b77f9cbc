import Foundation
import Logging
import Models
import ServiceLifecycle

/// Runs claimed jobs concurrently (the poller never claims more than the free
/// slots), one at a time per VM in arrival order. Each job's start is journaled
/// before its first limactl call execs (`JobBook.journalStart`, `StartGate`), and is
/// on disk by then unless it is an early start that only reads (`openEarly`). Each runs in its own
/// task so that a cancel, a lost lease or a hard stop can stop it alone: the
/// executor then kills its process group and cleans up as after a timeout. On a
/// graceful shutdown it keeps going until every claimed job has finished: the
/// poller ends its stream.
public struct JobRunner: Service {
    let work: AsyncStream<Job>
    let book: JobBook
    let executor: JobExecutor
    let logger: Logger
    /// Set with `security.requireCommandApproval`: commands wait for an operator first.
    let approvals: ApprovalGate?
    /// Where a job's live output goes, if anywhere.
    let liveOutput: @Sendable (Job) -> LiveOutput?
    /// Counts and durations per job type, for metrics.
    let operations: OperationStats?

    public init(
        work: AsyncStream<Job>, book: JobBook, executor: JobExecutor, logger: Logger, approvals: ApprovalGate? = nil,
        liveOutput: @escaping @Sendable (Job) -> LiveOutput? = { _ in nil }, operations: OperationStats? = nil
    ) {
        self.operations = operations
        self.work = work
        self.book = book
        self.executor = executor
        self.logger = logger
        self.approvals = approvals
        self.liveOutput = liveOutput
    }

    public func run() async {
        await withDiscardingTaskGroup { group in
            for await job in work {
                group.addTask { await run(job) }
            }
        }
        // The poller ends the stream as it stops. Finishing before the group asks this
        // service to stop would race the poller's own end, and the ServiceGroup treats a
        // service that ends out of turn as a failure.
        try? await gracefulShutdown()
    }

    /// Whether the job's start may be journaled while its first child gets ready: every
    /// effect of it goes through a child.
    static func gates(_ job: Job) -> Bool {
        job.type != .backupVM && job.type != .restoreVM
    }

    private func run(_ job: Job) async {
        if let approvals, ApprovalGate.applies(to: job) {
            // Before the VM's turn: a command waiting for a person must not hold up its VM.
            if case .refused(let result) = await approvals.decide(job) {
                if let result { await book.finish(result) }
                return
            }
        }
        // An early start handed over before its claim was written: its first child gets
        // ready during that write, and waits at the gate until the book confirms the job.
        var live: LiveOutput?
        var gate: StartGate?
        var prepared: Task<JobResult, Never>?
        if book.takeHandOff(job.ref), Self.gates(job), let early = StartGate() {
            live = liveOutput(job)
            gate = early
            prepared = execute(job, gate: early, live: live)
        }
        guard let turn = await book.takeTurn(job.ref) else {
            // The claim could not be written, or the job was stopped: nothing execs.
            gate?.open(false)
            prepared?.cancel()
            _ = await prepared?.value
            return
        }
        // The start is journaled (an fsync) while the job's first child gets ready, or was
        // on admission (an early start); that child execs only once the start is on disk,
        // or, for an early start that only reads, once it is written (`openEarly`).
        // Backups and restores touch files themselves before any child, so they journal first.
        if prepared == nil {
            live = liveOutput(job)
            gate = Self.gates(job) ? StartGate() : nil
        }
        if gate == nil, !(await book.journalStart(job.ref, turn)) { return }
        let execution = prepared ?? execute(job, gate: gate, live: live)
        if let gate {
            Self.openEarly(gate, for: job, turn)
            let journaled = await book.journalStart(job.ref, turn)
            gate.open(journaled)
            guard journaled else {
                execution.cancel()
                _ = await execution.value
                return
            }
        }
        logger.info(
            "job started",
            metadata: [
                "job": .string(job.id), "attempt": "\(job.attempt)", "type": .string(job.type.rawValue),
                "vm": .string(job.parameters.vmName ?? "-"),
            ])
        await book.attach(job.ref) { execution.cancel() }
        let result = await withTaskCancellationHandler {
            await execution.value
        } onCancel: {
            execution.cancel()
        }
        var metadata: Logger.Metadata = [
            "job": .string(job.id), "status": .string(result.status.rawValue),
            "duration_ms": "\(result.duration ?? 0)",
        ]
        if let error = result.error { metadata["error"] = .string("\(error.code): \(error.message)") }
        logger.log(level: result.status == .succeeded ? .info : .warning, "job finished", metadata: metadata)
        // The last output goes into the outbox before the result does.
        live?.finish()
        await book.finish(result)
        await operations?.record(result)
    }

    /// Opens an early start's gate before the runner's own `journalStart` returns: its
    /// start was written on admission (it survives a crash of the agent), and the flush
    /// admission began makes it durable. A read's gate opens at once, without waiting for
    /// the disk: a read changes nothing, so should a power cut lose its start, running it
    /// again does no harm (the control plane hands it out again). Any other
    /// job's opens on the syncer's thread as the flush ends, without waiting for this task
    /// to be scheduled again. A start still to journal (`.journal`) opens after it.
    static func openEarly(_ gate: StartGate, for job: Job, _ turn: JobBook.Turn) {
        guard case .journaled(let flush) = turn else { return }
        if job.type.mutatesVM {
            flush.whenDone { gate.open($0 == nil) }
        } else {
            gate.open(true)
        }
    }

    /// The job's execution, its first child behind `gate`.
    private func execute(_ job: Job, gate: StartGate?, live: LiveOutput?) -> Task<JobResult, Never> {
        // The pool as preference: an unstructured task does not inherit it (GlobalExecutor).
        let executor = self.executor
        return Task(executorPreference: GlobalExecutor.preferred) {
            await StartGate.$current.withValue(gate) { await executor.execute(job, live: live) }
        }
    }
}
