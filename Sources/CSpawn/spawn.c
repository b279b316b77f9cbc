#define _GNU_SOURCE
#include "CSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/// The kernel's own `struct sigaction` (x86_64 and arm64 alike), for rt_sigaction.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int set_ids;
    uid_t uid;
    gid_t gid;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    int gate_fd;
    /// Written by the child (it shares our memory) when it fails before execve.
    volatile int error;
};

/// Runs in the child, on its own stack, while the parent thread waits (CLONE_VFORK).
/// Only system calls: nothing here may take a lock the parent's threads could hold.
static int child_main(void *argument) {
    struct spawn_request *request = argument;
    // Handlers and SIG_IGN are not inherited, the real-time signals glibc keeps for
    // itself (32, 33) included: its sigaction() refuses those, so the kernel's is used.
    struct kernel_sigaction action = {.handler = SIG_DFL};
    for (int signo = 1; signo <= 64; signo++) {
        if (signo == SIGKILL || signo == SIGSTOP) continue;
        (void)syscall(SYS_rt_sigaction, signo, &action, NULL, sizeof action.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) goto fail;
    if (setsid() < 0) goto fail;
    if (request->set_ids) {
        if (syscall(SYS_setgroups, 0, NULL) != 0) goto fail;
        if (syscall(SYS_setresgid, request->gid, request->gid, request->gid) != 0) goto fail;
        if (syscall(SYS_setresuid, request->uid, request->uid, request->uid) != 0) goto fail;
    }
    if (request->cwd != NULL && chdir(request->cwd) != 0) goto fail;
    if (dup2(request->stdin_fd, STDIN_FILENO) < 0) goto fail;
    if (dup2(request->stdout_fd, STDOUT_FILENO) < 0) goto fail;
    if (dup2(request->stderr_fd, STDERR_FILENO) < 0) goto fail;
    // Nothing else of the agent's leaks into limactl (descriptors, the journal).
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; fd++) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (request->gate_fd >= 0) {
        // Ready to exec; the agent opens the gate once the job's start is on disk. Close
        // every other descriptor first (they would close at exec anyway): the agent's lock
        // and every gate's write end among them, so if the agent dies now the read sees
        // the end of the pipe and this child ends, holding nothing of the agent's.
        int gate = request->gate_fd;
        if (syscall(SYS_close_range, (unsigned)gate + 1, ~0U, 0U) != 0) {
            for (int fd = gate + 1; fd < 65536; fd++) (void)close(fd);
        }
        if (gate > 3 && syscall(SYS_close_range, 3U, (unsigned)gate - 1, 0U) != 0) {
            for (int fd = 3; fd < gate; fd++) (void)close(fd);
        }
        unsigned char go = 0;
        ssize_t count;
        do {
            count = read(request->gate_fd, &go, 1);
        } while (count < 0 && errno == EINTR);
        if (count != 1 || go != 1) {
            errno = ECANCELED;
            goto fail;
        }
    }
    execve(request->path, request->argv, request->envp);
fail:
    request->error = errno != 0 ? errno : EINVAL;
    _exit(127);
}

int limahost_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int set_ids, uid_t uid,
                   gid_t gid, int stdout_fd, int stderr_fd, int gate_fd, pid_t *pid, int *pidfd) {
    *pid = -1;
    *pidfd = -1;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) return errno;
    const size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int error = errno;
        close(devnull);
        return error;
    }
    struct spawn_request request = {
        .path = path, .argv = argv, .envp = envp, .cwd = cwd, .set_ids = set_ids, .uid = uid, .gid = gid,
        .stdin_fd = devnull, .stdout_fd = stdout_fd, .stderr_fd = stderr_fd, .gate_fd = gate_fd,
        .error = 0,
    };
    // No signal handler of ours may run in the child before its dispositions are reset.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t child = clone(child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    int clone_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, stack_size);
    close(devnull);
    if (child < 0) return clone_error;
    if (request.error != 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return request.error;
    }
    *pid = child;
    long descriptor = syscall(SYS_pidfd_open, child, 0);
    *pidfd = descriptor >= 0 ? (int)descriptor : -1;
    return 0;
}

int limahost_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno; }

int limahost_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int limahost_start_writeback(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int error = sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
    close(fd);
    return error;
}
