import CExecutor
// SchedulingExecutor is Swift 6.3's (experimental) protocol through which Task.sleep and
// Clock.sleep hand a delayed job to the executor the task runs on; without it their jobs
// go to Dispatch whatever the global executor is.
@_spi(ExperimentalScheduling) import _Concurrency

/// The task executor the pool's jobs run on (CExecutor's threads).
///
/// Global jobs reach the pool through the runtime's hooks, and each runs "on" this
/// executor. That matters for sleeps: Swift 6.3's `Task.sleep` (and `ContinuousClock`'s)
/// asks the executor the task is running on to schedule its wake-up when that executor
/// is a `SchedulingExecutor`, and falls back to Dispatch's global queue otherwise,
/// which would start Dispatch's 1 Hz monitor after all.
final class PoolExecutor: TaskExecutor, SchedulingExecutor, Sendable {
    static let shared = PoolExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        limahost_executor_enqueue(Self.pointer(UnownedJob(job)))
    }

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C) {
        let unowned = UnownedJob(job)
        let delay = clock.now.duration(to: instant)
        // Every clock of the agent measures in Duration (ContinuousClock, SuspendingClock).
        // Another clock's job runs at once: an early wake-up, never a lost one.
        let nanoseconds = (delay as? Duration).map(Self.nanoseconds) ?? 0
        if limahost_executor_enqueue_after(Self.pointer(unowned), nanoseconds) == 0 {
            // No memory for the timer heap: the job runs at once, an early wake-up.
            limahost_executor_enqueue(Self.pointer(unowned))
        }
    }

    /// Runs a job the pool hands back, on this executor.
    static func run(_ raw: UnsafeMutableRawPointer) {
        unsafeBitCast(raw, to: UnownedJob.self).runSynchronously(on: shared.asUnownedTaskExecutor())
    }

    private static func pointer(_ job: UnownedJob) -> UnsafeMutableRawPointer {
        unsafeBitCast(job, to: UnsafeMutableRawPointer.self)
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        guard seconds < 1 << 33 else { return .max }  // 272 years: never
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
