// Swift concurrency's global executor on a fixed pool of parked threads.
//
// Why: with Dispatch as the global executor, an idle agent still wakes. Dispatch ends
// a worker thread after 5 s without work and makes a new one for the next job, and its
// first worker of a non-overcommit queue starts a monitor that wakes the manager
// thread every second for the life of the process (libdispatch's event/workqueue.c).
// The runtime's hooks (swift_task_enqueueGlobal_hook and the two for delayed jobs)
// let a program run those jobs itself: here, on threads that sleep on a condition
// variable until a job or the earliest delayed job is due.
#define _GNU_SOURCE
#include "CExecutor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define SWIFTCC __attribute__((swiftcall))

// The head of the runtime's Job: a heap object header, then two words reserved for
// the scheduler, which hold our links while a job waits here (as Dispatch uses them).
typedef struct SwiftJob {
    void *metadata;
    uintptr_t refcounts;
    void *scheduler_private[2];
} SwiftJob;

typedef SWIFTCC void (*enqueue_original)(SwiftJob *job);
typedef SWIFTCC void (*enqueue_hook)(SwiftJob *job, enqueue_original original);
typedef SWIFTCC void (*delay_original)(unsigned long long delay_ns, SwiftJob *job);
typedef SWIFTCC void (*delay_hook)(unsigned long long delay_ns, SwiftJob *job, delay_original original);
typedef SWIFTCC void (*deadline_original)(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                                          SwiftJob *job);
typedef SWIFTCC void (*deadline_hook)(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                                      SwiftJob *job, deadline_original original);

extern enqueue_hook swift_task_enqueueGlobal_hook;
extern delay_hook swift_task_enqueueGlobalWithDelay_hook;
extern deadline_hook swift_task_enqueueGlobalWithDeadline_hook;


// The runtime's clock ids (swift_clock_id): continuous is CLOCK_BOOTTIME on Linux,
// suspending CLOCK_MONOTONIC.
enum { CLOCK_ID_CONTINUOUS = 1, CLOCK_ID_SUSPENDING = 2 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static SwiftJob *ready_head;  // FIFO through scheduler_private[0]
static SwiftJob *ready_tail;
static SwiftJob **timers;  // a binary min-heap on the deadline kept in scheduler_private[1]
static size_t timer_count;
static size_t timer_capacity;
static int idle_threads;
static int timer_waiter;  // an idle thread waits for the earliest deadline
static atomic_int installed;
static void (*run_job)(void *job);

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_of(const SwiftJob *job) { return (uint64_t)(uintptr_t)job->scheduler_private[1]; }

static void push_ready(SwiftJob *job) {
    job->scheduler_private[0] = NULL;
    if (ready_tail) {
        ready_tail->scheduler_private[0] = job;
    } else {
        ready_head = job;
    }
    ready_tail = job;
}

static SwiftJob *pop_ready(void) {
    SwiftJob *job = ready_head;
    if (job) {
        ready_head = job->scheduler_private[0];
        if (!ready_head) ready_tail = NULL;
    }
    return job;
}

// Under the lock. 0, or ENOMEM when the heap cannot grow.
static int push_timer(SwiftJob *job) {
    if (timer_count == timer_capacity) {
        size_t capacity = timer_capacity ? timer_capacity * 2 : 64;
        SwiftJob **grown = realloc(timers, capacity * sizeof *grown);
        if (!grown) return ENOMEM;
        timers = grown;
        timer_capacity = capacity;
    }
    size_t i = timer_count++;
    while (i > 0 && deadline_of(timers[(i - 1) / 2]) > deadline_of(job)) {
        timers[i] = timers[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    timers[i] = job;
    return 0;
}

static SwiftJob *pop_timer(void) {
    SwiftJob *top = timers[0];
    SwiftJob *last = timers[--timer_count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= timer_count) break;
        if (child + 1 < timer_count && deadline_of(timers[child + 1]) < deadline_of(timers[child])) child++;
        if (deadline_of(timers[child]) >= deadline_of(last)) break;
        timers[i] = timers[child];
        i = child;
    }
    if (timer_count > 0) timers[i] = last;
    return top;
}

// Under the lock: moves the delayed jobs that are due to the ready queue.
static void release_due(uint64_t now) {
    while (timer_count > 0 && deadline_of(timers[0]) <= now) push_ready(pop_timer());
}

static void *worker(void *unused) {
    (void)unused;
    pthread_mutex_lock(&lock);
    for (;;) {
        if (timer_count > 0) release_due(now_ns(CLOCK_MONOTONIC));
        SwiftJob *job = pop_ready();
        if (job) {
            // More jobs waiting, or delayed jobs and no thread left to watch their
            // deadline, and a thread asleep: pass the wake on.
            if ((ready_head || (timer_count > 0 && !timer_waiter)) && idle_threads > 0) pthread_cond_signal(&wake);
            pthread_mutex_unlock(&lock);
            run_job(job);
            pthread_mutex_lock(&lock);
            continue;
        }
        idle_threads++;
        if (timer_count > 0 && !timer_waiter) {
            timer_waiter = 1;
            uint64_t due = deadline_of(timers[0]);
            struct timespec until = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)};
            pthread_cond_timedwait(&wake, &lock, &until);
            timer_waiter = 0;
        } else {
            pthread_cond_wait(&wake, &lock);
        }
        idle_threads--;
    }
    return NULL;
}

void limahost_executor_enqueue(void *job) {
    pthread_mutex_lock(&lock);
    push_ready(job);
    if (idle_threads > 0) pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

static SWIFTCC void enqueue(SwiftJob *job, enqueue_original original) {
    (void)original;
    limahost_executor_enqueue(job);
}

// A delayed job, due at `due` on CLOCK_MONOTONIC; false when the heap cannot take it.
static int enqueue_at(uint64_t due, SwiftJob *job) {
    job->scheduler_private[1] = (void *)(uintptr_t)due;
    pthread_mutex_lock(&lock);
    int earliest = timer_count == 0 || due < deadline_of(timers[0]);
    int failed = push_timer(job);
    // A new earliest deadline: the thread waiting for the old one must wait less.
    // Broadcast, since a plain signal may wake a thread that waits without a deadline.
    if (!failed && earliest && idle_threads > 0) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    return !failed;
}

static uint64_t due_after(uint64_t delay_ns) {
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    return delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
}

int limahost_executor_enqueue_after(void *job, unsigned long long delay_ns) { return enqueue_at(due_after(delay_ns), job); }

static SWIFTCC void enqueue_with_delay(unsigned long long delay_ns, SwiftJob *job, delay_original original) {
    if (!enqueue_at(due_after(delay_ns), job)) original(delay_ns, job);
}

static SWIFTCC void enqueue_with_deadline(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                                          SwiftJob *job, deadline_original original) {
    if (clock != CLOCK_ID_CONTINUOUS && clock != CLOCK_ID_SUSPENDING) {
        original(sec, nsec, tsec, tnsec, clock, job);
        return;
    }
    // The deadline on its own clock, moved onto CLOCK_MONOTONIC (the two differ only
    // by the time the machine spent suspended). The tolerance is not used.
    clockid_t id = clock == CLOCK_ID_CONTINUOUS ? CLOCK_BOOTTIME : CLOCK_MONOTONIC;
    uint64_t target = sec < 0 ? 0 : (uint64_t)sec * 1000000000u + (uint64_t)(nsec < 0 ? 0 : nsec);
    uint64_t there = now_ns(id);
    uint64_t wait = target > there ? target - there : 0;
    if (!enqueue_at(due_after(wait), job)) original(sec, nsec, tsec, tnsec, clock, job);
}

int limahost_executor_install(int threads, void (*run)(void *job)) {
    if (threads < 1) threads = 1;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return EALREADY;
    run_job = run;

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &attr);
    pthread_condattr_destroy(&attr);

    // The workers block every signal that can be blocked, so that a signal meant for
    // the process (SIGTERM, SIGHUP through Dispatch's signal sources) never lands on
    // them; they inherit this thread's mask, restored afterwards.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    int status = 0;
    for (int i = 0; i < threads && status == 0; i++) {
        pthread_t thread;
        status = pthread_create(&thread, NULL, worker, NULL);
        if (status == 0) {
            pthread_setname_np(thread, "limahost-exec");
            pthread_detach(thread);
        } else if (i > 0) {
            status = 0;  // fewer threads than asked, but some: still a pool
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (status != 0) {
        atomic_store(&installed, 0);
        return status;
    }
    swift_task_enqueueGlobal_hook = enqueue;
    swift_task_enqueueGlobalWithDelay_hook = enqueue_with_delay;
    swift_task_enqueueGlobalWithDeadline_hook = enqueue_with_deadline;
    return 0;
}

int limahost_executor_installed(void) { return atomic_load(&installed) && run_job != NULL; }
