import Foundation
import Logging
import Models
import ServiceLifecycle

/// Claims jobs with the long poll and hands them to the runner. At most one claim
/// is outstanding; it claims only when a slot is free; every failure waits before
/// the next try. In `--drain` mode it claims with `wait` 0 and returns once the
/// queue is empty and nothing runs, which shuts the group down gracefully.
public struct Poller: Service {
    let controlPlane: any ControlPlane
    let registrar: Registrar
    let book: JobBook
    let work: AsyncStream<Job>.Continuation
    let bell: Doorbell
    let mode: RunMode
    let pollWait: Int
    let logger: Logger
    let clock: any Clock<Duration>
    /// `--drain` gives up after this many consecutive failures (exit 3).
    let drainAttempts: Int

    public init(
        controlPlane: any ControlPlane, registrar: Registrar, book: JobBook, work: AsyncStream<Job>.Continuation,
        bell: Doorbell, mode: RunMode, pollWait: Int, logger: Logger, clock: any Clock<Duration> = ContinuousClock(),
        drainAttempts: Int = 5
    ) {
        self.controlPlane = controlPlane
        self.registrar = registrar
        self.book = book
        self.work = work
        self.bell = bell
        self.mode = mode
        self.pollWait = pollWait
        self.logger = logger
        self.clock = clock
        self.drainAttempts = drainAttempts
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
    }

    private func loop() async throws {
        var backoff = Backoff()
        while !Task.isCancelled {
            do throws(ControlPlaneError) {
                try await registrar.ensureRegistered()
                let capacity = await book.capacity
                if capacity == 0 {
                    await bell.wait()
                    continue
                }
                let wait = mode.drain ? 0 : (await registrar.overrides.pollWait ?? pollWait)
                let request = ClaimRequest(
                    capacity: capacity, wait: wait, held: await book.heldRefs, draining: mode.drain)
                let reply = try await controlPlane.claim(request)
                backoff.reset()
                let jobs = await book.admit(reply.decodedJobs(), now: Date())
                if !reply.jobs.isEmpty {
                    logger.debug(
                        "claimed jobs", metadata: ["count": "\(reply.jobs.count)", "runnable": "\(jobs.count)"])
                }
                for job in jobs { work.yield(job) }
                if mode.drain && reply.jobs.isEmpty {
                    if await book.isIdle { return }
                    await bell.wait()
                }
            } catch {
                try await handle(error, &backoff)
            }
        }
    }

    private func handle(_ error: ControlPlaneError, _ backoff: inout Backoff) async throws {
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
        default:
            logger.warning("claim failed", metadata: ["error": .string(error.description)])
        }
        let delay = backoff.delay(for: error)
        if mode.drain && backoff.consecutiveFailures >= drainAttempts {
            let code: AgentError.Code = error.kind == .refused ? .controlPlaneRefused : .controlPlaneUnreachable
            throw AgentError(code, "the control plane could not be reached after \(drainAttempts) tries", cause: error)
        }
        try await clock.sleep(for: delay)
    }
}
