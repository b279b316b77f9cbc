import CExecutor

/// Swift concurrency's global executor: Dispatch's by default, or a fixed pool of
/// parked threads (CExecutor) that an idle agent does not wake.
///
/// With Dispatch, an idle agent wakes every second for Dispatch's worker monitor and
/// makes threads anew for each burst of work (Dispatch ends a worker after 5 s idle).
/// The pool keeps its threads and wakes only for a job or a due sleep.
public enum GlobalExecutor {
    /// `LIMAHOST_EXECUTOR=dispatch` keeps Dispatch's (a way back, and the benchmark's
    /// comparison); anything else, or nothing, installs the pool with one thread per
    /// active core, as many as Dispatch's cooperative queues would run at once.
    /// Call it first thing in main, before any task starts; `preferred` then says
    /// whether the pool runs.
    public static func install(environment: [String: String], cores: Int) {
        if environment["LIMAHOST_EXECUTOR"] == "dispatch" { return }
        _ = limahost_executor_install(Int32(clamping: max(1, cores))) { job in
            if let job { PoolExecutor.run(job) }
        }
    }

    /// The pool when it is installed, else nil (no preference): for `Task(executorPreference:)`.
    /// An unstructured task does not inherit its creator's preference, and a task without
    /// one hands its sleeps to Dispatch (see PoolExecutor).
    public static var preferred: (any TaskExecutor)? {
        limahost_executor_installed() != 0 ? PoolExecutor.shared : nil
    }

    /// Runs `operation` with the pool as its tasks' executor preference, so that their
    /// sleeps are scheduled by the pool too (see PoolExecutor); as is, without the pool.
    public static func run<T: Sendable>(_ operation: () async -> T) async -> T {
        await withTaskExecutorPreference(preferred) { await operation() }
    }
}
