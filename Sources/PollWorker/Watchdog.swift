import Logging
import ServiceLifecycle

/// Sends `WATCHDOG=1` every half of `$WATCHDOG_USEC` while no loop is stuck
/// (`Liveness`). A control plane that cannot be reached is not a reason to stop:
/// restarting would not help, and the loops keep coming round while they back off.
public struct Watchdog: Service {
    let notifier: SystemdNotifier
    let liveness: Liveness
    let logger: Logger

    public init(notifier: SystemdNotifier, liveness: Liveness, logger: Logger) {
        self.notifier = notifier
        self.liveness = liveness
        self.logger = logger
    }

    public func run() async {
        guard let interval = notifier.watchdogInterval else {
            // Nothing to ping, but returning early would shut the whole group down.
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let stuck = liveness.stuck()
                if stuck.isEmpty {
                    notifier.watchdog()
                } else {
                    logger.error(
                        "not pinging the systemd watchdog: a loop is stuck",
                        metadata: ["loops": .string(stuck.joined(separator: ", "))])
                }
                try? await Task.sleep(for: interval / 2)
            }
        }
    }
}
