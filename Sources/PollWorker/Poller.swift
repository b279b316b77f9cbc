import Foundation
import Logging
import Models
import ServiceLifecycle

/// Claims jobs with the long poll and hands them to the runner. At most one claim
/// is outstanding; it claims only when a slot is free; every failure waits before
/// the next try. It first waits for the reporter's first attempt, so results left
/// from before a restart go out before anything new is claimed. In `--drain` mode
/// it claims with `wait` 0 and returns once the queue is empty and nothing runs,
/// which shuts the group down gracefully; it gives up (exit 3) only after failing
/// for `drainGiveUp` without a success, so a flaky control plane never ends a drain.
public struct Poller: Service {
    /// How long a free slot may wait for others before a busy agent claims for it alone.
    public static let claimLinger: Duration = .milliseconds(100)
    let controlPlane: any ControlPlane
    let registrar: Registrar
    let book: JobBook
    let work: AsyncStream<Job>.Continuation
    let bell: Doorbell
    let mode: RunMode
    let pollWait: Int
    /// ms between claims in interval mode (claims with `wait` 0); 0 long-polls.
    let pollInterval: Int
    let logger: Logger
    let clock: ContinuousClock
    /// `--drain` gives up (exit 3) after this many consecutive failures spanning `drainGiveUp`.
    let drainAttempts: Int
    let drainGiveUp: Duration
    let firstReport: Latch
    /// Signature, decoding and policy, before a job is held.
    let intake: JobIntake
    let notifier: SystemdNotifier
    let liveness: Liveness

    public init(
        controlPlane: any ControlPlane, registrar: Registrar, book: JobBook, work: AsyncStream<Job>.Continuation,
        bell: Doorbell, mode: RunMode, pollWait: Int, pollInterval: Int = 0, logger: Logger, firstReport: Latch,
        intake: JobIntake,
        notifier: SystemdNotifier = SystemdNotifier(environment: [:]), liveness: Liveness = Liveness(),
        clock: ContinuousClock = ContinuousClock(), drainAttempts: Int = 5, drainGiveUp: Duration = .seconds(60)
    ) {
        self.controlPlane = controlPlane
        self.registrar = registrar
        self.book = book
        self.work = work
        self.bell = bell
        self.mode = mode
        self.pollWait = pollWait
        self.pollInterval = pollInterval
        self.logger = logger
        self.clock = clock
        self.drainAttempts = drainAttempts
        self.drainGiveUp = drainGiveUp
        self.firstReport = firstReport
        self.intake = intake
        self.notifier = notifier
        self.liveness = liveness
    }

    public func run() async throws {
        defer {
            // The runner finishes every job already claimed, then stops.
            work.finish()
        }
        do {
            try await cancelWhenGracefulShutdown { try await self.loop() }
        } catch is CancellationError {
            // Graceful shutdown cancelled the outstanding claim: stop claiming.
        }
        mode.beginStopping()
        notifier.stopping("stopping: no new jobs; finishing the running ones")
        liveness.idle("poller")
    }

    private func loop() async throws {
        await firstReport.wait()
        var backoff = Backoff()
        var failingSince: ContinuousClock.Instant?
        var slotFreedAt: ContinuousClock.Instant?
        // A busy agent claims once this many slots are free (half of them).
        let batch = (await book.slots + 1) / 2
        while !Task.isCancelled {
            do throws(ControlPlaneError) {
                try await registrar.ensureRegistered()
                let capacity = await book.capacity
                if capacity == 0 {
                    liveness.idle("poller")
                    await bell.wait()
                    continue
                }
                // Under load, claim for several slots at once: when half of them are
                // free, or `claimLinger` after the first one freed. An idle agent claims at once.
                if capacity < batch, await !book.isIdle {
                    let since = slotFreedAt ?? clock.now
                    slotFreedAt = since
                    let left = since.advanced(by: Self.claimLinger) - clock.now
                    if left > .zero {
                        liveness.expect("poller", within: left + .seconds(1))
                        await bell.wait(timeout: left, clock: clock)
                        continue
                    }
                }
                slotFreedAt = nil
                let interval = mode.drain ? 0 : pollInterval
                let wait = mode.drain || interval > 0 ? 0 : (await registrar.overrides.pollWait ?? pollWait)
                let request = ClaimRequest(
                    capacity: capacity, wait: wait, held: await book.heldRefs, draining: mode.drain)
                liveness.expect("poller", within: .milliseconds(wait) + HTTPControlPlane.claimMargin)
                let reply = try await controlPlane.claim(request)
                notifier.ready()
                backoff.reset()
                failingSince = nil
                let admission: JobBook.Admission
                do throws(StoreError) {
                    admission = try await book.admit(intake.admit(reply.jobs))
                } catch {
                    // Not journaled, so not held: the next claim's `held` hands them back.
                    logger.error(
                        "cannot journal claimed jobs; not running them", metadata: ["error": .string(error.message)])
                    try? await clock.sleep(for: backoff.nextDelay())
                    continue
                }
                let jobs = admission.jobs
                if !reply.jobs.isEmpty {
                    logger.debug(
                        "claimed jobs", metadata: ["count": "\(reply.jobs.count)", "runnable": "\(jobs.count)"])
                }
                for job in jobs where !admission.handedOff.contains(job.ref) { work.yield(job) }
                if !reply.jobs.isEmpty && jobs.isEmpty && admission.answered == 0 {
                    // Only jobs already held or dropped: a control plane that keeps
                    // handing them out must not make this a busy loop.
                    try? await clock.sleep(for: backoff.nextDelay())
                }
                // Fewer jobs than asked for and none to run: the queue has no more.
                if mode.drain && jobs.isEmpty && reply.jobs.count < capacity {
                    if await book.isIdle { return }
                    await bell.wait()
                }
                if interval > 0 && reply.jobs.isEmpty {
                    liveness.expect("poller", within: .milliseconds(interval) + HTTPControlPlane.claimMargin)
                    try? await clock.sleep(for: .milliseconds(interval))
                }
            } catch {
                if failingSince == nil { failingSince = clock.now }
                try await handle(error, &backoff, failingFor: failingSince.map { $0.duration(to: clock.now) } ?? .zero)
            }
        }
    }

    private func handle(_ error: ControlPlaneError, _ backoff: inout Backoff, failingFor: Duration) async throws {
        switch error.kind {
        case .cancelled:
            throw CancellationError()
        case .unknownAgent:
            await registrar.forget()
            if backoff.consecutiveFailures == 0 {
                _ = backoff.nextDelay()
                return
            }
        case .refused:
            logger.error("the control plane refused the API key", metadata: ["error": .string(error.description)])
            if mode.drain {
                throw AgentError(.controlPlaneRefused, "the control plane refused the API key", cause: error)
            }
        case .badRequest:
            logger.error("the control plane rejected a claim", metadata: ["error": .string(error.description)])
        case .notAllowed:
            logger.error("not claiming", metadata: ["error": .string(error.description)])
        default:
            logger.warning("claim failed", metadata: ["error": .string(error.description)])
        }
        let delay = backoff.delay(for: error)
        if mode.drain && backoff.consecutiveFailures >= drainAttempts && failingFor >= drainGiveUp {
            throw AgentError(
                .controlPlaneUnreachable,
                "the control plane could not be reached: \(backoff.consecutiveFailures) tries over \(failingFor)",
                cause: error)
        }
        liveness.expect("poller", within: delay)
        try await clock.sleep(for: delay)
    }
}
