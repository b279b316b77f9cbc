#ifndef LIMAHOST_CEXECUTOR_H
#define LIMAHOST_CEXECUTOR_H

/// A fixed pool of threads that runs Swift concurrency's global jobs in place of
/// Dispatch's global queues.
///
/// Once installed, the runtime's hooks send every global job here
/// (`swift_task_enqueueGlobal`, and the delayed jobs of `swift_task_enqueueGlobalWithDelay`
/// and `...WithDeadline`), and each runs on one of `threads` threads through `run`.
/// The threads block every asynchronous signal, as Dispatch's workers do, and stay
/// parked on a condition variable while nothing is due: no periodic timer, none of
/// the 1 Hz monitor Dispatch starts with its first worker of a global queue, and no
/// thread ended after 5 s idle and made again for the next burst of work. Jobs run
/// in the order they come, whatever their priority (the agent sets none).
///
/// Call it once, first thing in main. Returns 0, EALREADY when already installed,
/// or the errno of pthread_create (nothing is installed then).
int limahost_executor_install(int threads, void (*run)(void *job));

/// Queues a job to run as soon as a thread is free.
void limahost_executor_enqueue(void *job);

/// Queues a job to run `delay_ns` from now (CLOCK_MONOTONIC). 1, or 0 when the
/// timer heap cannot grow (no memory): the caller then keeps the job.
int limahost_executor_enqueue_after(void *job, unsigned long long delay_ns);

/// 1 once the pool is installed, else 0.
int limahost_executor_installed(void);

#endif
