import Foundation
import Logging
import ServiceLifecycle

/// Stops every job whose lease runs out locally without renewal: the control plane
/// may already have handed it to another agent (§4.1). It sleeps until the
/// earliest lease and wakes early when leases change. It runs until the runner
/// has finished, for jobs still run while the agent drains.
public struct LeaseKeeper: Service {
    let book: JobBook
    let bell: Doorbell
    let logger: Logger
    let clock: ContinuousClock

    public init(book: JobBook, bell: Doorbell, logger: Logger, clock: ContinuousClock = ContinuousClock()) {
        self.book = book
        self.bell = bell
        self.logger = logger
        self.clock = clock
    }

    public func run() async {
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                guard let lease = await book.earliestLease else {
                    await bell.wait()
                    continue
                }
                let left = lease.timeIntervalSinceNow
                if left > 0 {
                    await bell.wait(timeout: .milliseconds(Int64(left * 1000) + 1), clock: clock)
                    continue
                }
                let stopped = await book.expireLeases()
                if stopped > 0 {
                    logger.warning(
                        "stopped jobs whose lease ran out without renewal", metadata: ["count": "\(stopped)"])
                }
            }
        } onGracefulShutdown: { [bell] in
            bell.ring()
        }
    }
}
