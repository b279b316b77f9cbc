import Foundation
import Logging
import Models
import ServiceLifecycle

/// Sends reports: results soon after they are ready (a short linger batches
/// several), a heartbeat at least every `heartbeatInterval` and at least every
/// third of the shortest lease while jobs run, and whatever logs and metrics wait
/// in the outbox. It acts on each reply: accepted results leave the outbox,
/// leases are renewed, cancelled jobs are stopped. A 413 splits the batch and a
/// 400 bisects it (`ReportSplitter`). On shutdown it flushes what is left, within
/// a bound; in `--drain` mode an undeliverable result is an error (exit 3).
public struct Reporter: Service {
    let controlPlane: any ControlPlane
    let registrar: Registrar
    let book: JobBook
    let store: StateStore
    let bell: Doorbell
    let mode: RunMode
    let heartbeatInterval: Int
    let startedAt: Date
    let logger: Logger
    let clock: ContinuousClock
    let linger: Duration
    let batchLimit: Int
    let flushAttempts: Int
    /// Opened after the first report attempt: pending results go out before the first claim.
    let firstReport: Latch
    /// The longest the final flush may take after a graceful stop, and after a hard stop.
    let flushBound: Duration
    let hardStopFlushBound: Duration
    /// The host health heartbeats carry, measured by the metrics sampler.
    let health: HealthBoard?
    let notifier: SystemdNotifier
    let liveness: Liveness

    public init(
        controlPlane: any ControlPlane, registrar: Registrar, book: JobBook, store: StateStore, bell: Doorbell,
        mode: RunMode, heartbeatInterval: Int, startedAt: Date, logger: Logger, firstReport: Latch,
        clock: ContinuousClock = ContinuousClock(), linger: Duration = .milliseconds(100), batchLimit: Int = 200,
        flushAttempts: Int = 5, flushBound: Duration = .seconds(60), hardStopFlushBound: Duration = .seconds(10),
        health: HealthBoard? = nil, notifier: SystemdNotifier = SystemdNotifier(environment: [:]),
        liveness: Liveness = Liveness()
    ) {
        self.notifier = notifier
        self.liveness = liveness
        self.health = health
        self.controlPlane = controlPlane
        self.registrar = registrar
        self.book = book
        self.store = store
        self.bell = bell
        self.mode = mode
        self.heartbeatInterval = heartbeatInterval
        self.startedAt = startedAt
        self.logger = logger
        self.firstReport = firstReport
        self.clock = clock
        self.linger = linger
        self.batchLimit = batchLimit
        self.flushAttempts = flushAttempts
        self.flushBound = flushBound
        self.hardStopFlushBound = hardStopFlushBound
    }

    public func run() async throws {
        defer { firstReport.open() }
        let splitter = Locked(ReportSplitter(maxItems: batchLimit))
        await withGracefulShutdownHandler {
            await loop(splitter)
        } onGracefulShutdown: { [bell] in
            bell.ring()
        }
        firstReport.open()
        try await flush(splitter)
    }

    /// The wait before the next heartbeat: the interval, or a third of the shortest lease.
    private func heartbeatDelay() async -> Duration {
        let interval = await registrar.overrides.heartbeatInterval ?? heartbeatInterval
        var delay = Duration.milliseconds(interval)
        if let lease = await book.earliestLease {
            let third = max(0.2, lease.timeIntervalSinceNow / 3)
            delay = min(delay, .milliseconds(Int64(third * 1000)))
        }
        return delay
    }

    private var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    private func loop(_ splitter: Locked<ReportSplitter>) async {
        var backoff = Backoff()
        // Due at once: the first report goes out as soon as the agent is registered.
        var lastSent = clock.now.advanced(by: .seconds(-86_400))
        while !stopping {
            let due = lastSent.advanced(by: await heartbeatDelay())
            if await book.pendingResultCount == 0 && !logsWaiting() {
                let wait = clock.now.duration(to: due)
                liveness.expect("reporter", within: max(wait, .zero) + .seconds(HTTPControlPlane.requestTimeout))
                if wait > .zero { await bell.wait(timeout: wait, clock: clock) }
                if stopping { return }
            }
            let pending = await book.pendingResultCount
            let logs = logsWaiting()
            if pending == 0 && !logs && clock.now < due { continue }
            if firstReport.isOpen && (pending > 0 || logs) {
                // A short linger batches several results; live output batches a little longer.
                try? await clock.sleep(for: pending > 0 ? linger : linger * 3)
            }
            do throws(ControlPlaneError) {
                try await registrar.ensureRegistered()
                liveness.expect("reporter", within: .seconds(HTTPControlPlane.requestTimeout))
                let progress = try await send(state: mode.drain || mode.isStopping ? .draining : .running, splitter)
                notifier.ready()
                firstReport.open()
                lastSent = clock.now
                if progress {
                    backoff.reset()
                } else {
                    // Results went out and none was accepted: do not resend them in a tight loop.
                    logger.warning("the control plane accepted none of the results sent; retrying later")
                    await pause(backoff.nextDelay())
                }
            } catch {
                firstReport.open()
                if error.kind == .cancelled { return }
                if error.kind == .unknownAgent { await registrar.forget() }
                logger.log(
                    level: error.kind == .notAllowed ? .error : .warning, "report failed",
                    metadata: ["error": .string(error.description)])
                await pause(backoff.delay(for: error))
            }
        }
    }

    /// Waits `delay`, ending early only when the agent shuts down.
    private func pause(_ delay: Duration) async {
        liveness.expect("reporter", within: delay)
        let until = clock.now.advanced(by: delay)
        while !stopping, clock.now < until {
            await bell.wait(timeout: clock.now.duration(to: until), clock: clock)
        }
    }

    /// Whether log chunks (live output, the agent's warnings) wait to be sent.
    private func logsWaiting() -> Bool {
        ((try? store.pendingCount(.logs)) ?? 0) > 0
    }

    /// Whether anything waits in the outbox.
    private func somethingPending() async -> Bool {
        if await book.pendingResultCount > 0 { return true }
        let queued = (try? store.pendingCount(.logs)) ?? 0
        return queued + ((try? store.pendingCount(.metrics)) ?? 0) > 0
    }

    /// Sends until nothing is pending, within a bounded number of tries and time.
    private func flush(_ splitter: Locked<ReportSplitter>) async throws {
        let bound = mode.isHardStop ? hardStopFlushBound : flushBound
        let deadline = clock.now.advanced(by: bound)
        var backoff = Backoff(base: .milliseconds(500), cap: .seconds(5))
        var failures = 0
        var lastError: ControlPlaneError?
        repeat {
            do throws(ControlPlaneError) {
                try await withDeadline(deadline) { () async throws(ControlPlaneError) in
                    try await registrar.ensureRegistered()
                    _ = try await send(state: .stopping, splitter)
                }
                failures = 0
            } catch {
                if error.kind == .unknownAgent { await registrar.forget() }
                lastError = error
                failures += 1
                // A refused key will not be accepted on a retry: stop now rather than
                // wait out the long back-off of §2.
                if failures >= flushAttempts || error.kind == .refused || Task.isCancelled { break }
                let delay = backoff.delay(for: error)
                guard clock.now.advanced(by: delay) < deadline else { break }
                try? await clock.sleep(for: delay)
            }
        } while await somethingPending() && clock.now < deadline
        let left = await book.pendingResultCount
        guard left > 0 else { return }
        logger.error(
            "results could not be delivered before exit; they stay in the state store and go out at the next start",
            metadata: ["count": "\(left)"])
        if mode.drain {
            throw AgentError(
                .controlPlaneUnreachable, "\(left) result(s) could not be delivered",
                cause: lastError)
        }
    }

    /// Runs `body`, cancelling it at `deadline` (a hung request must not hold the exit).
    private func withDeadline(
        _ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws(ControlPlaneError) -> Void
    ) async throws(ControlPlaneError) {
        let outcome = await withTaskGroup(of: Result<Void, ControlPlaneError>?.self) { group in
            group.addTask {
                do throws(ControlPlaneError) {
                    try await body()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask { [clock] in
                try? await clock.sleep(until: deadline)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch outcome {
        case .success?: return
        case .failure(let error)?: throw error
        case nil: throw ControlPlaneError(.transient, message: "the final flush ran out of time")
        }
    }

    /// One report: the heartbeat with every held job, plus a batch from the outbox.
    /// Returns false when results were sent and none was accepted.
    private func send(state: AgentState, _ splitter: Locked<ReportSplitter>) async throws(ControlPlaneError) -> Bool {
        while true {
            let pending = await pendingBatch()
            var batch = splitter.withLock { $0.select(from: pending) }
            // Results are committed without an fsync; none leaves before it is on disk.
            if !batch.results.isEmpty, !(await syncJournal()) { batch.results = [] }
            let report = Report(
                batchId: UUID().uuidString.lowercased(), sentAt: Date(), heartbeat: await heartbeat(state),
                results: batch.results.isEmpty ? nil : batch.results,
                logs: batch.logs.isEmpty ? nil : batch.logs.map(\.chunk),
                metrics: batch.metrics.isEmpty ? nil : batch.metrics.map(\.sample))
            do throws(ControlPlaneError) {
                let reply = try await controlPlane.report(report)
                let accepted = Set(reply.accepted)
                await delivered(batch, accepting: batch.results.map(\.ref).filter { accepted.contains($0.jobId) })
                splitter.withLock { $0.delivered(batch) }
                await book.renew(reply.leases)
                await book.cancel(jobIds: reply.cancel, reason: .controlPlane)
                return batch.results.isEmpty || batch.results.contains { accepted.contains($0.jobId) }
            } catch {
                switch error.kind {
                case .conflict:
                    // 409: the control plane already has these results (§2).
                    logger.warning("the control plane answered 409; counting the batch as delivered")
                    await delivered(batch, accepting: batch.results.map(\.ref))
                    splitter.withLock { $0.delivered(batch) }
                    return true
                case .tooLarge:
                    logger.warning(
                        "the control plane refused a report as too large; splitting it",
                        metadata: ["items": "\(batch.count)"])
                    try await act(on: splitter.withLock { $0.tooLarge(batch) }, batch, error, state: state)
                case .badRequest:
                    logger.error(
                        "the control plane refused a report as malformed; narrowing down the bad item",
                        metadata: ["items": "\(batch.count)", "error": .string(error.description)])
                    try await act(on: splitter.withLock { $0.badRequest(batch) }, batch, error, state: state)
                default:
                    throw error
                }
            }
        }
    }

    /// One fsync for every result committed so far; false (logged) if the disk refuses it.
    private func syncJournal() async -> Bool {
        do throws(StoreError) {
            try await store.syncer.sync()
            return true
        } catch {
            logger.error(
                "cannot sync the state store; holding results back", metadata: ["error": .string(error.message)])
            return false
        }
    }

    private func act(
        on verdict: ReportSplitter.Verdict, _ batch: ReportBatch, _ error: ControlPlaneError, state: AgentState
    ) async throws(ControlPlaneError) {
        switch verdict {
        case .retry:
            return
        case .backOff:
            throw error
        case .drop(let key):
            // Only if a report without items goes through is the item to blame: a 400
            // for every report (a protocol mismatch, say) must never empty the outbox.
            if error.kind == .badRequest {
                _ = try await controlPlane.report(
                    Report(batchId: UUID().uuidString.lowercased(), sentAt: Date(), heartbeat: await heartbeat(state)))
            }
            do {
                try await drop(key, from: batch, error)
            } catch {
                logger.error("cannot drop an outbox item", metadata: ["error": "\(error)"])
            }
        }
    }

    private func heartbeat(_ state: AgentState) async -> Heartbeat {
        let now = Date()
        return Heartbeat(
            state: state, startedAt: startedAt, uptime: max(0, Int(now.timeIntervalSince(startedAt) * 1000)),
            held: await book.heldRefs, health: health?.current)
    }

    /// Drops the one item the control plane refuses, logged at error level (§5.4).
    private func drop(_ key: ReportBatch.Key, from batch: ReportBatch, _ error: ControlPlaneError) async throws {
        switch key {
        case .result(let ref):
            logger.error(
                "result dropped: the control plane refuses it",
                metadata: ["job": .string(ref.jobId), "attempt": "\(ref.attempt)", "error": .string(error.description)])
            if let result = batch.results.first(where: { $0.ref == ref }) {
                await book.drop(result, because: error.description)
            }
        case .log(let seq):
            logger.error(
                "log chunk dropped: the control plane refuses it", metadata: ["error": .string(error.description)])
            try store.remove([seq], from: .logs, discarded: true)
        case .metric(let seq):
            logger.error(
                "metrics sample dropped: the control plane refuses it", metadata: ["error": .string(error.description)])
            try store.remove([seq], from: .metrics, discarded: true)
        }
    }

    /// Everything the outbox holds, up to the batch limit of each kind.
    private func pendingBatch() async -> ReportBatch {
        var batch = ReportBatch(results: await book.pendingResults(limit: batchLimit))
        do throws(StoreError) {
            batch.logs = try store.pendingLogs(limit: batchLimit * 4)
            batch.metrics = try store.pendingMetrics(limit: batchLimit / 4 + 1)
        } catch {
            logger.error("cannot read the outbox", metadata: ["error": .string(error.message)])
        }
        return batch
    }

    private func delivered(_ batch: ReportBatch, accepting refs: [JobRef]) async {
        await book.accepted(refs)
        do throws(StoreError) {
            try store.remove(batch.logs.map(\.seq), from: .logs)
            try store.remove(batch.metrics.map(\.seq), from: .metrics)
        } catch {
            logger.error("cannot clear delivered logs and metrics", metadata: ["error": .string(error.message)])
        }
        if !refs.isEmpty {
            logger.debug(
                "results delivered", metadata: ["sent": "\(batch.results.count)", "accepted": "\(refs.count)"])
        }
    }
}
