import Foundation
import Logging
import Models
import ServiceLifecycle

/// Sends reports: results soon after they are ready (a short linger batches
/// several), a heartbeat at least every `heartbeatInterval` and at least every
/// third of the shortest lease while jobs run. On shutdown it flushes what is
/// left; in `--drain` mode an undeliverable result is an error (exit 3).
public struct Reporter: Service {
    let controlPlane: any ControlPlane
    let registrar: Registrar
    let book: JobBook
    let bell: Doorbell
    let mode: RunMode
    let heartbeatInterval: Int
    let startedAt: Date
    let logger: Logger
    let clock: ContinuousClock
    let linger: Duration
    let batchLimit: Int
    let flushAttempts: Int

    public init(
        controlPlane: any ControlPlane, registrar: Registrar, book: JobBook, bell: Doorbell, mode: RunMode,
        heartbeatInterval: Int, startedAt: Date, logger: Logger, clock: ContinuousClock = ContinuousClock(),
        linger: Duration = .milliseconds(100), batchLimit: Int = 200, flushAttempts: Int = 5
    ) {
        self.controlPlane = controlPlane
        self.registrar = registrar
        self.book = book
        self.bell = bell
        self.mode = mode
        self.heartbeatInterval = heartbeatInterval
        self.startedAt = startedAt
        self.logger = logger
        self.clock = clock
        self.linger = linger
        self.batchLimit = batchLimit
        self.flushAttempts = flushAttempts
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await loop()
        } onGracefulShutdown: { [bell] in
            bell.ring()
        }
        try await flush()
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

    private func loop() async {
        var backoff = Backoff()
        // Due at once: the first heartbeat goes out as soon as the agent is registered.
        var lastSent = clock.now.advanced(by: .seconds(-86_400))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let due = lastSent.advanced(by: await heartbeatDelay())
            if await book.pendingResultCount == 0 {
                let wait = clock.now.duration(to: due)
                if wait > .zero { await bell.wait(timeout: wait, clock: clock) }
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
            }
            let pending = await book.pendingResultCount
            if pending == 0 && clock.now < due { continue }
            if pending > 0 { try? await clock.sleep(for: linger) }
            do throws(ControlPlaneError) {
                try await registrar.ensureRegistered()
                try await send(state: mode.drain || mode.isStopping ? .draining : .running)
                backoff.reset()
                lastSent = clock.now
            } catch {
                if error.kind == .cancelled { return }
                if error.kind == .unknownAgent { await registrar.forget() }
                logger.warning("report failed", metadata: ["error": .string(error.description)])
                let delay = backoff.delay(for: error)
                await bell.wait(timeout: delay, clock: clock)
            }
        }
    }

    /// Sends until nothing is pending, within a bounded number of tries.
    private func flush() async throws {
        var backoff = Backoff(base: .milliseconds(500), cap: .seconds(5))
        var failures = 0
        var lastError: ControlPlaneError?
        repeat {
            do throws(ControlPlaneError) {
                try await registrar.ensureRegistered()
                try await send(state: .stopping)
                failures = 0
            } catch {
                if error.kind == .unknownAgent { await registrar.forget() }
                lastError = error
                failures += 1
                // A refused key will not be accepted on a retry: stop now rather than
                // wait out the long back-off of §2.
                if failures >= flushAttempts || error.kind == .refused || Task.isCancelled { break }
                try? await clock.sleep(for: backoff.nextDelay())
            }
        } while await book.pendingResultCount > 0
        let left = await book.pendingResultCount
        guard left > 0 else { return }
        logger.error("results could not be delivered before exit", metadata: ["count": "\(left)"])
        if mode.drain {
            throw AgentError(
                .controlPlaneUnreachable, "\(left) result(s) could not be delivered",
                cause: lastError)
        }
    }

    /// One report: the heartbeat with every held job, plus the oldest pending results.
    private func send(state: AgentState) async throws(ControlPlaneError) {
        let results = await book.pendingResults(limit: batchLimit)
        let now = Date()
        let heartbeat = Heartbeat(
            state: state, startedAt: startedAt, uptime: max(0, Int(now.timeIntervalSince(startedAt) * 1000)),
            held: await book.heldRefs)
        let report = Report(
            batchId: UUID().uuidString.lowercased(), sentAt: now, heartbeat: heartbeat,
            results: results.isEmpty ? nil : results)
        do throws(ControlPlaneError) {
            let reply = try await controlPlane.report(report)
            await book.renew(reply.leases)
            await book.accepted(reply.accepted)
            if !results.isEmpty {
                logger.debug(
                    "results delivered", metadata: ["sent": "\(results.count)", "accepted": "\(reply.accepted.count)"])
            }
        } catch  where error.kind == .conflict {
            // 409: the control plane already has these results (§2).
            logger.warning("the control plane answered 409; counting the batch as delivered")
            await book.accepted(results.map(\.jobId))
        }
    }
}
