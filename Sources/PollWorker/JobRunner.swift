import Foundation
import Logging
import Models
import ServiceLifecycle

/// Runs claimed jobs concurrently (the poller never claims more than the free
/// slots), one at a time per VM in arrival order. On shutdown it keeps going
/// until every job already claimed has finished: the poller ends its stream.
public struct JobRunner: Service {
    let work: AsyncStream<Job>
    let book: JobBook
    let executor: JobExecutor
    let logger: Logger

    public init(work: AsyncStream<Job>, book: JobBook, executor: JobExecutor, logger: Logger) {
        self.work = work
        self.book = book
        self.executor = executor
        self.logger = logger
    }

    public func run() async {
        await withDiscardingTaskGroup { group in
            for await job in work {
                group.addTask {
                    await book.waitTurn(job.ref)
                    logger.info(
                        "job started",
                        metadata: [
                            "job": .string(job.id), "attempt": "\(job.attempt)", "type": .string(job.type.rawValue),
                            "vm": .string(job.parameters.vmName ?? "-"),
                        ])
                    let result = await executor.execute(job)
                    var metadata: Logger.Metadata = [
                        "job": .string(job.id), "status": .string(result.status.rawValue),
                        "duration_ms": "\(result.duration ?? 0)",
                    ]
                    if let error = result.error { metadata["error"] = .string("\(error.code): \(error.message)") }
                    logger.log(
                        level: result.status == .succeeded ? .info : .warning, "job finished", metadata: metadata)
                    await book.finish(result)
                }
            }
        }
    }
}
