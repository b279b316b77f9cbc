import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Turns a graceful stop into a hard one. The ServiceGroup handles the first
/// SIGTERM or SIGINT itself (stop claiming, finish running jobs, flush, exit 0).
/// This service watches the same signals: a second one, or the drain budget
/// (`drainTimeout`) running out after the first, cancels every job still held.
/// Those end `cancelled`, and the reporter's final flush is then short.
///
/// It is the group's first service, so the group tells it to stop last, after the
/// reporter has flushed; until then it keeps listening.
public struct ShutdownCoordinator: Service {
    let book: JobBook
    let mode: RunMode
    let drainTimeout: Duration
    let logger: Logger
    let notifier: SystemdNotifier
    let signals: @Sendable () async -> AsyncStream<Void>

    public init(
        book: JobBook, mode: RunMode, drainTimeout: Duration, logger: Logger,
        notifier: SystemdNotifier = SystemdNotifier(environment: [:]),
        signals: @escaping @Sendable () async -> AsyncStream<Void> = ShutdownCoordinator.unixSignals
    ) {
        self.notifier = notifier
        self.book = book
        self.mode = mode
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.signals = signals
    }

    /// SIGTERM and SIGINT, as a stream of ticks.
    public static func unixSignals() async -> AsyncStream<Void> {
        let sequence = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        return AsyncStream { continuation in
            let task = Task(executorPreference: GlobalExecutor.preferred) {
                for await _ in sequence { continuation.yield() }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func run() async {
        let stream = await signals()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                var count = 0
                for await _ in stream {
                    count += 1
                    if count == 1 {
                        mode.beginStopping()
                        let unfinished = await book.unfinishedCount
                        logger.notice(
                            "stopping: no new jobs; waiting for the running ones (a second signal cancels them)",
                            metadata: ["running": "\(unfinished)", "drainTimeout": "\(drainTimeout)"])
                        notifier.stopping("draining: waiting for \(unfinished) running job(s)")
                        group.addTask { [drainTimeout] in
                            guard (try? await Task.sleep(for: drainTimeout)) != nil else { return }
                            await hardStop("the drain budget ran out")
                        }
                        group.addTask { [notifier] in
                            // While draining, keep systemd from killing the stop before the budget allows.
                            while !Task.isCancelled {
                                notifier.extendTimeout(.seconds(90))
                                guard (try? await Task.sleep(for: .seconds(60))) != nil else { return }
                            }
                        }
                    } else {
                        await hardStop("a second signal")
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func hardStop(_ why: String) async {
        guard !mode.isHardStop else { return }
        mode.beginHardStop()
        logger.warning(
            "hard stop: cancelling every running job", metadata: ["reason": .string(why)])
        await book.cancelAll(reason: .shutdown)
    }
}
