import Foundation
import Logging
import Models

/// Every job the agent holds, from claim until the control plane accepts its
/// result: what may run, in which order per VM, what to stop, and what is waiting
/// to be reported. Each change is written to the `StateStore` before it takes
/// effect here, so the journal never lags behind what the agent has done.
public actor JobBook {
    enum Phase: Sendable { case waiting, running, finished }

    struct Entry: Sendable {
        var ref: JobRef
        var type: String
        var vmName: String?
        /// Only reads (`JobType.mutatesVM` false): runs beside other such jobs on its VM.
        var readsOnly = false
        var phase: Phase
        var leaseExpiresAt: Date?
        var cancelReason: CancelReason?
        var canceller: (@Sendable () -> Void)?
        /// An early start's flush (see `admit`): the job must not exec before it ends,
        /// unless it only reads (`JobRunner.openEarly`).
        var startFlush: JournalFlush?
    }

    /// What the runner must do before the job's first effect, once it may start.
    enum Turn: Sendable {
        /// Journal the start (`journalStart`).
        case journal
        /// Admission journaled the start already: wait for this flush.
        case journaled(JournalFlush)
    }

    private let maxConcurrent: Int
    private let store: StateStore
    private let logger: Logger
    private let now: @Sendable () -> Date
    private var entries: [JobRef: Entry] = [:]
    /// Held jobs in arrival order (the `held` lists follow it).
    private var order: [JobRef] = []
    /// Per-VM arrival order: a job runs at the head of its VM's queue, or, when it only
    /// reads the VM, once every job ahead of it only reads too. Reads never overtake a
    /// change queued before them, and a change waits for the reads queued before it.
    private var vmQueues: [String: [JobRef]] = [:]
    private var turnWaiters: [JobRef: CheckedContinuation<Void, Never>] = [:]
    /// Results the store could not take (disk full, I/O error): kept here until accepted.
    private var unsaved: [JobRef: JobResult] = [:]
    private var statusCounts: [ResultStatus: Int] = [:]
    /// Results replaced by a placeholder after the control plane refused them.
    private var placeholders: Set<JobRef> = []
    /// The outbox may hold a result this book does not: a store write failed after the
    /// book let go of it (an acceptance, a drop, a resend). `pendingResults` then always
    /// reads the store.
    private var unheldResults = false
    private let bells: [Doorbell]
    /// Whether a job may start early: journaled as started on admission, when nothing
    /// (its VM's queue, an operator's approval) would hold it back.
    private let startsEarly: @Sendable (Job) -> Bool
    /// Where an early start goes before its claim is written (the runner's queue; false
    /// when it is closed), so its first child gets ready during that write and its
    /// fsync. Nil: jobs reach the runner through the poller, after admission.
    private let handOff: (@Sendable (Job) -> Bool)?
    /// Early starts handed off that the runner has not picked up yet (`takeHandOff`).
    private nonisolated let handedOff = Locked<Set<JobRef>>([])

    public init(
        maxConcurrent: Int, store: StateStore, bells: [Doorbell], logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init,
        startsEarly: @escaping @Sendable (Job) -> Bool = { _ in false },
        handOff: (@Sendable (Job) -> Bool)? = nil
    ) {
        self.startsEarly = startsEarly
        self.handOff = handOff
        self.maxConcurrent = maxConcurrent
        self.store = store
        self.bells = bells
        self.logger = logger
        self.now = now
    }

    private func ringAll() { for bell in bells { bell.ring() } }

    /// Free slots: the limit minus jobs held and not finished.
    public var capacity: Int { max(0, maxConcurrent - unfinishedCount) }
    /// `maxConcurrentOperations`.
    public var slots: Int { maxConcurrent }
    public var heldRefs: [JobRef] { order }
    public var unfinishedCount: Int { entries.values.filter { $0.phase != .finished }.count }
    public var pendingResultCount: Int { entries.values.filter { $0.phase == .finished }.count }
    public var isIdle: Bool { unfinishedCount == 0 }

    /// How many results of each status this run produced (for `--drain`'s exit code).
    public var producedStatuses: [ResultStatus: Int] { statusCounts }

    /// Takes what crash recovery found: pending results are held again, and the
    /// claimed jobs that never started are returned to run.
    public func restore(_ recovery: StoreRecovery) -> [Job] {
        for result in recovery.pending { holdFinished(result.ref) }
        statusCounts[.interrupted, default: 0] += recovery.interrupted.count
        for job in recovery.resumable { holdWaiting(job) }
        ringAll()
        return recovery.resumable
    }

    /// Takes a claim reply's jobs. Each is journaled before anything else happens:
    /// rejections become results at once, a duplicate of a held (id, attempt) is
    /// ignored, one that already has a stored result sends that result again, and
    /// the rest are returned to be run. Throws when the journal cannot be written:
    /// then nothing is held, and the next claim's `held` tells the control plane.
    ///
    /// A job that may start at once (`startsEarly`, and its VM's queue empty) is
    /// journaled as started in the same write, and that write's fsync begins before
    /// the job reaches the runner: on the pickup path, the fsync overlaps the hand-over
    /// and the child's set-up instead of following them.
    public func admit(_ decodings: [JobDecoding]) throws(StoreError) -> Admission {
        let date = now()
        var toRun: [Job] = []
        var rejected: [JobResult] = []
        var seen: Set<JobRef> = []
        var resent: [JobRef] = []
        let early: Set<JobRef>
        var handed: Set<JobRef> = []
        do throws(StoreError) {
            for decoding in decodings {
                let ref: JobRef
                switch decoding {
                case .invalid(let rejection):
                    guard let result = JobResult.rejected(rejection, at: date) else { continue }
                    ref = result.ref
                    guard seen.insert(ref).inserted, try !isKnown(ref, resent: &resent) else { continue }
                    rejected.append(result)
                case .valid(let job):
                    ref = job.ref
                    guard seen.insert(ref).inserted, try !isKnown(ref, resent: &resent) else { continue }
                    toRun.append(job)
                }
            }
            early = earlyStarts(toRun)
            handed = handOffEarly(toRun, early)
            if !toRun.isEmpty || !rejected.isEmpty {
                try store.journalClaimed(toRun, started: early, rejected: rejected, at: date)
            }
        } catch {
            // Stored results found for re-deliveries are in the outbox, not held here.
            if !resent.isEmpty { unheldResults = true }
            throw error
        }
        // The writeback kick is for starts that wait for this flush: a read's does not.
        let flush =
            early.isEmpty
            ? nil
            : store.syncer.begin(startingWriteback: toRun.contains { early.contains($0.ref) && $0.type.mutatesVM })
        for ref in resent { holdFinished(ref) }
        for result in rejected {
            holdFinished(result.ref)
            statusCounts[.rejected, default: 0] += 1
        }
        for job in toRun {
            holdWaiting(job)
            if early.contains(job.ref) {
                entries[job.ref]?.phase = .running
                entries[job.ref]?.startFlush = flush
            }
        }
        // Only a change rings: an empty claim reply ringing the poller's own bell made a
        // `--drain` agent with a job running claim again at once, in a loop.
        if !toRun.isEmpty || !rejected.isEmpty || !resent.isEmpty { ringAll() }
        return Admission(jobs: toRun, answered: resent.count + rejected.count, handedOff: handed)
    }

    /// Hands the early starts to the runner before their claim is written. Safe because
    /// the runner lets nothing exec before `takeTurn` confirms the job (its start is then
    /// written) and, unless the job only reads, its start's flush ends; if the write
    /// fails, no entry is held and `takeTurn` says no.
    private func handOffEarly(_ jobs: [Job], _ early: Set<JobRef>) -> Set<JobRef> {
        guard let handOff, !early.isEmpty else { return [] }
        var handed: Set<JobRef> = []
        for job in jobs where early.contains(job.ref) {
            // Marked before the runner can see the job.
            handedOff.withLock { _ = $0.insert(job.ref) }
            if handOff(job) {
                handed.insert(job.ref)
            } else {
                handedOff.withLock { _ = $0.remove(job.ref) }
            }
        }
        return handed
    }

    /// Whether the job came from `admit`'s hand-off (an early start the runner may get
    /// ready before `takeTurn`); true once per job.
    nonisolated func takeHandOff(_ ref: JobRef) -> Bool {
        handedOff.withLock { $0.remove(ref) != nil }
    }

    /// The jobs among `jobs` that start on admission: VM-less, or first for a VM nothing
    /// holds or waits for. (A read beside other reads still waits for its turn.)
    private func earlyStarts(_ jobs: [Job]) -> Set<JobRef> {
        var early: Set<JobRef> = []
        var vms: Set<String> = []
        for job in jobs {
            let free = job.parameters.vmName.map { vms.insert($0).inserted && vmQueues[$0] == nil } ?? true
            if free && startsEarly(job) { early.insert(job.ref) }
        }
        return early
    }

    /// What a claim reply brought: jobs to run, and how many deliveries were
    /// answered with a result instead (rejections, stored results sent again).
    /// `handedOff`: the jobs among `jobs` the runner has already (early starts).
    public struct Admission: Sendable, Equatable {
        public var jobs: [Job]
        public var answered: Int
        public var handedOff: Set<JobRef> = []
    }

    /// Whether (id, attempt) is held already or has a stored result; an accepted
    /// stored result goes back to the outbox, so the control plane hears it once more.
    private func isKnown(_ ref: JobRef, resent: inout [JobRef]) throws(StoreError) -> Bool {
        if entries[ref] != nil { return true }
        switch try store.entry(ref) {
        case nil:
            return false
        case .accepted:
            try store.resend(ref)
            resent.append(ref)
        case .finished:
            resent.append(ref)
        case .discarded:
            logger.warning(
                "a job delivered again had its result refused by the control plane; not running it again",
                metadata: ["job": .string(ref.jobId), "attempt": "\(ref.attempt)"])
            return true
        case .claimed, .started:
            logger.error("the journal holds a job this run does not", metadata: ["job": .string(ref.jobId)])
        }
        logger.info(
            "a job delivered again already has a result; sending it again instead of running it",
            metadata: ["job": .string(ref.jobId), "attempt": "\(ref.attempt)"])
        return true
    }

    private func holdWaiting(_ job: Job) {
        entries[job.ref] = Entry(
            ref: job.ref, type: job.type.rawValue, vmName: job.parameters.vmName,
            readsOnly: !job.type.mutatesVM, phase: .waiting,
            leaseExpiresAt: job.leaseExpiresAt)
        order.append(job.ref)
        if let vm = job.parameters.vmName { vmQueues[vm, default: []].append(job.ref) }
    }

    private func holdFinished(_ ref: JobRef) {
        guard entries[ref] == nil else { return }
        entries[ref] = Entry(ref: ref, type: "", vmName: nil, phase: .finished)
        order.append(ref)
    }

    /// Waits until the job may run (at once for VM-less jobs, else when it heads its
    /// VM's queue), then journals its start. False means do not run it: it was
    /// cancelled while it waited, or its start could not be journaled.
    public func waitTurn(_ ref: JobRef) async -> Bool {
        guard let turn = await takeTurn(ref) else { return false }
        return await journalStart(ref, turn)
    }

    /// The first half of `waitTurn`: waits for the job's turn and marks it running.
    /// Nil when it was cancelled while it waited. `journalStart` must follow before
    /// any effect of the job (the runner gates the job's first child on it).
    func takeTurn(_ ref: JobRef) async -> Turn? {
        if let entry = entries[ref], entry.phase == .running, let flush = entry.startFlush {
            // Started early, on admission (a stop before now finished it: see `stop`).
            entries[ref]?.startFlush = nil
            return .journaled(flush)
        }
        if entries[ref]?.phase == .waiting, !mayStart(ref) {
            await withCheckedContinuation { turnWaiters[ref] = $0 }
        }
        guard entries[ref]?.phase == .waiting else { return nil }
        entries[ref]?.phase = .running
        return .journal
    }

    /// The second half of `waitTurn`: journals the start, durably. The commit is made
    /// in this actor; the fsync outside it, on the store's syncer, shared with other
    /// starts and results waiting at the same time. An early start only waits for the
    /// flush admission began. When either fails the job ends at once with an internal
    /// error, and false says not to let it run.
    nonisolated func journalStart(_ ref: JobRef, _ turn: Turn) async -> Bool {
        do throws(StoreError) {
            switch turn {
            case .journal:
                try await commitStart(ref)
                try await store.syncer.sync()
            case .journaled(let flush):
                try await flush.wait()
            }
            return true
        } catch {
            await startFailed(ref, error)
            return false
        }
    }

    private func commitStart(_ ref: JobRef) throws(StoreError) {
        try store.markStarted(ref, at: now(), durable: false)
    }

    private func startFailed(_ ref: JobRef, _ error: StoreError) {
        // A read that started early may have run already (`JobRunner.openEarly`); it is stopped.
        let what = entries[ref]?.readsOnly == true ? "stopping it" : "not running it"
        logger.error("cannot journal a job's start; \(what)", metadata: ["error": .string(error.message)])
        finish(
            failure(
                ref, type: entries[ref]?.type, code: .internal, "the agent could not journal the job's start: \(error)")
        )
    }

    /// Whether the job is held and has not started (nor been stopped) yet.
    public func isWaiting(_ ref: JobRef) -> Bool { entries[ref]?.phase == .waiting }

    /// Registers how to stop a running job; a stop already asked for happens at once.
    public func attach(_ ref: JobRef, cancel: @escaping @Sendable () -> Void) {
        guard entries[ref]?.phase == .running else { return }
        entries[ref]?.canceller = cancel
        if entries[ref]?.cancelReason != nil { cancel() }
    }

    /// Commits a finished job's result to the outbox, then lets the next job on its VM run.
    public func finish(_ result: JobResult) {
        var result = result
        let ref = result.ref
        guard var entry = entries[ref], entry.phase != .finished else { return }
        if let reason = entry.cancelReason, result.status == .cancelled {
            result.error = WireError(code: .cancelled, message: reason.message)
        }
        do throws(StoreError) {
            try store.finish(result, at: now())
        } catch {
            logger.error(
                "cannot commit a result to the state store; keeping it in memory",
                metadata: ["job": .string(ref.jobId), "error": .string(error.message)])
            unsaved[ref] = result
        }
        entry.phase = .finished
        entry.canceller = nil
        entries[ref] = entry
        statusCounts[result.status, default: 0] += 1
        if let vm = entry.vmName { leaveQueue(ref, vm: vm) }
        ringAll()
    }

    private func leaveQueue(_ ref: JobRef, vm: String) {
        guard var queue = vmQueues[vm] else { return }
        queue.removeAll { $0 == ref }
        vmQueues[vm] = queue.isEmpty ? nil : queue
        for next in queue {
            guard mayStart(next) else { break }
            turnWaiters.removeValue(forKey: next)?.resume()
        }
    }

    /// Whether the job heads its VM's queue, or only reads and has only reads ahead of it.
    private func mayStart(_ ref: JobRef) -> Bool {
        guard let vm = entries[ref]?.vmName, let queue = vmQueues[vm], let position = queue.firstIndex(of: ref)
        else { return true }
        if position == 0 { return true }
        guard entries[ref]?.readsOnly == true else { return false }
        return queue[..<position].allSatisfy { entries[$0]?.readsOnly == true }
    }

    private func failure(_ ref: JobRef, type: String?, code: ErrorCode, _ message: String) -> JobResult {
        let date = now()
        return JobResult(
            jobId: ref.jobId, attempt: ref.attempt, type: type ?? "unknown", status: .failed, startedAt: date,
            finishedAt: date, duration: 0, error: WireError(code: code, message: message))
    }

    // MARK: - Stopping jobs

    /// Stops the named jobs (a report reply's `cancel`): a waiting one ends at once,
    /// a running one has its process group killed and ends `cancelled`.
    public func cancel(jobIds: [String], reason: CancelReason) {
        guard !jobIds.isEmpty else { return }
        let ids = Set(jobIds)
        for ref in order where ids.contains(ref.jobId) { stop(ref, reason) }
    }

    /// Stops every job not finished (the hard stop of a shutdown).
    public func cancelAll(reason: CancelReason) {
        for ref in order { stop(ref, reason) }
    }

    /// Stops the jobs whose lease has run out; returns how many.
    @discardableResult
    public func expireLeases() -> Int {
        let date = now()
        let expired = order.filter { ref in
            guard let entry = entries[ref], entry.phase != .finished, entry.cancelReason == nil,
                let lease = entry.leaseExpiresAt
            else {
                return false
            }
            return lease <= date
        }
        for ref in expired { stop(ref, .leaseExpired) }
        return expired.count
    }

    /// The result of a job stopped before it ran.
    private func cancelled(_ ref: JobRef, type: String, _ reason: CancelReason) -> JobResult {
        let date = now()
        return JobResult(
            jobId: ref.jobId, attempt: ref.attempt, type: type, status: .cancelled, startedAt: date, finishedAt: date,
            duration: 0, error: WireError(code: .cancelled, message: reason.message))
    }

    private func stop(_ ref: JobRef, _ reason: CancelReason) {
        guard var entry = entries[ref], entry.phase != .finished, entry.cancelReason == nil else { return }
        entry.cancelReason = reason
        entries[ref] = entry
        logger.info("stopping a job", metadata: ["job": .string(ref.jobId), "reason": .string(reason.message)])
        switch entry.phase {
        case .waiting:
            finish(cancelled(ref, type: entry.type, reason))
            if let waiter = turnWaiters.removeValue(forKey: ref) { waiter.resume() }
        case .running where entry.startFlush != nil:
            // Started early and not yet taken by the runner: it ends here, even if the runner
            // never comes for it (a shutdown's hard stop). A child already set up for it (a
            // hand-off) is refused at the gate when `takeTurn` then says no.
            finish(cancelled(ref, type: entry.type, reason))
        case .running:
            entry.canceller?()
        case .finished:
            break
        }
    }

    // MARK: - Delivery

    /// Results to send, oldest first.
    public func pendingResults(limit: Int) -> [JobResult] {
        var results = Array(unsaved.values.prefix(limit))
        // Every result in the outbox is held here as finished (unless a write failed): none
        // held, none to read.
        guard results.count < limit, unheldResults || entries.values.contains(where: { $0.phase == .finished })
        else { return results }
        do throws(StoreError) {
            results += try store.pendingResults(limit: limit - results.count)
        } catch {
            logger.error("cannot read the outbox", metadata: ["error": .string(error.message)])
        }
        return results
    }

    /// Forgets the results the control plane accepted: they are no longer held.
    public func accepted(_ refs: [JobRef]) {
        guard !refs.isEmpty else { return }
        do throws(StoreError) {
            try store.accept(refs, at: now())
        } catch {
            // Not fatal: the result is sent again, and the control plane answers a second
            // copy as accepted.
            logger.error("cannot record accepted results", metadata: ["error": .string(error.message)])
            unheldResults = true
        }
        forget(refs)
    }

    /// Drops a result the control plane refuses (the bad item of a 400, or one too
    /// large even without its output). The first time, a small `failed` placeholder
    /// takes its place, so the control plane still learns that the job ended and
    /// stops handing it out; if even that is refused, the job is dropped for good.
    public func drop(_ result: JobResult, because reason: String) {
        let ref = result.ref
        do throws(StoreError) {
            if placeholders.insert(ref).inserted {
                let placeholder = JobResult(
                    jobId: ref.jobId, attempt: ref.attempt, type: result.type, status: .failed,
                    startedAt: result.startedAt, finishedAt: result.finishedAt, duration: result.duration,
                    error: WireError(
                        code: .internal,
                        message: "the control plane refused this job's \(result.status.rawValue) result (\(reason)); "
                            + "the agent dropped it"))
                if unsaved[ref] != nil {
                    unsaved[ref] = placeholder
                } else {
                    try store.finish(placeholder, at: now())
                }
                return
            }
            try store.discard(ref, at: now())
        } catch {
            logger.error("cannot drop a result", metadata: ["error": .string(error.message)])
            unheldResults = true
        }
        placeholders.remove(ref)
        forget([ref])
    }

    private func forget(_ refs: [JobRef]) {
        let gone = Set(refs)
        for ref in gone where entries[ref]?.phase == .finished {
            entries[ref] = nil
            unsaved[ref] = nil
        }
        order.removeAll { entries[$0] == nil }
        ringAll()
    }

    /// Records renewed leases from a report reply.
    public func renew(_ leases: [ReportReply.Lease]) {
        var renewed: [(JobRef, Date)] = []
        for lease in leases {
            for ref in order where ref.jobId == lease.jobId && entries[ref]?.phase != .finished {
                entries[ref]?.leaseExpiresAt = lease.leaseExpiresAt
                renewed.append((ref, lease.leaseExpiresAt))
            }
        }
        do throws(StoreError) {
            try store.renew(renewed)
        } catch {
            logger.warning("cannot record renewed leases", metadata: ["error": .string(error.message)])
        }
        if !renewed.isEmpty { ringAll() }
    }

    /// The earliest lease among jobs still running or waiting.
    public var earliestLease: Date? {
        entries.values.filter { $0.phase != .finished && $0.cancelReason == nil }.compactMap(\.leaseExpiresAt).min()
    }
}
