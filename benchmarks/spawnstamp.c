/* The pickup-latency probe: configured as the agent's limactl, it appends
 * "<CLOCK_REALTIME ns> <argv...>" to $LIMA_BENCH_STAMPS the moment the process
 * runs, then execs the real limactl ($LIMA_BENCH_LIMACTL) with the same
 * arguments, so the stamp is the executor starting limactl, not the stand-in's
 * own Swift start-up.
 *
 * Two builds of this file (benchmarks/run.py makes both):
 *  - the default, on x86_64 Linux, has no C library at all: the stamp is taken
 *    by the process's first instructions (`_start`), with raw system calls.
 *    On this Firecracker VM a static glibc spends about 0.5 ms of its own
 *    start-up (CPU feature probing, each CPUID a VM exit) before main; that is
 *    the probe's time, not the executor's.
 *  - with -DSTAMP_IN_MAIN, the stamp is taken in main() after glibc's start-up:
 *    the earlier probe, kept to measure that difference in the same run.
 * Benchmarks only; never installed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>

#define LINE_MAX_BYTES 4096

/* "<ns> <argv[1]> <argv[2]>...\n" into `line`; returns its length. */
static int format_line(char *line, long long ns, int argc, char **argv) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + ns % 10);
        ns /= 10;
    } while (ns > 0 && count < (int)sizeof digits);
    int used = 0;
    while (count > 0) line[used++] = digits[--count];
    for (int i = 1; i < argc; i++) {
        if (used >= LINE_MAX_BYTES - 2) break;
        line[used++] = ' ';
        for (const char *c = argv[i]; *c != '\0' && used < LINE_MAX_BYTES - 2; c++) line[used++] = *c;
    }
    line[used++] = '\n';
    return used;
}

#if defined(STAMP_IN_MAIN) || !defined(__x86_64__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *stamps = getenv("LIMA_BENCH_STAMPS");
    const char *real = getenv("LIMA_BENCH_LIMACTL");
    if (stamps != NULL) {
        char line[LINE_MAX_BYTES];
        int used = format_line(line, (long long)now.tv_sec * 1000000000LL + now.tv_nsec, argc, argv);
        int fd = open(stamps, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            /* One write with O_APPEND: lines from concurrent calls never interleave. */
            if (write(fd, line, (size_t)used) < 0) { /* a lost stamp shows as a missing sample */ }
            close(fd);
        }
    }
    if (real == NULL) {
        fputs("spawnstamp: LIMA_BENCH_LIMACTL is not set\n", stderr);
        return 127;
    }
    argv[0] = (char *)real;
    execve(real, argv, environ);
    perror("spawnstamp: execve");
    return 127;
}

#else

/* The value of NAME in envp, or NULL. */
static const char *find_env(char **envp, const char *name) {
    for (; *envp != NULL; envp++) {
        const char *entry = *envp;
        const char *want = name;
        while (*want != '\0' && *entry == *want) {
            entry++;
            want++;
        }
        if (*want == '\0' && *entry == '=') return entry + 1;
    }
    return NULL;
}

static long sys3(long number, long a, long b, long c) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

static const char not_set[] = "spawnstamp: LIMA_BENCH_LIMACTL is not set\n";
static const char failed[] = "spawnstamp: execve failed\n";

/* Called from _start with the initial stack: argc, argv..., NULL, envp..., NULL. */
__attribute__((used, noreturn)) void spawnstamp_entry(long *stack) {
    struct timespec now;
    sys3(SYS_clock_gettime, CLOCK_REALTIME, (long)&now, 0);
    int argc = (int)stack[0];
    char **argv = (char **)(stack + 1);
    char **envp = argv + argc + 1;
    const char *stamps = find_env(envp, "LIMA_BENCH_STAMPS");
    const char *real = find_env(envp, "LIMA_BENCH_LIMACTL");
    if (stamps != NULL) {
        char line[LINE_MAX_BYTES];
        int used = format_line(line, (long long)now.tv_sec * 1000000000LL + now.tv_nsec, argc, argv);
        long fd = sys3(SYS_open, (long)stamps, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            /* One write with O_APPEND: lines from concurrent calls never interleave. */
            sys3(SYS_write, fd, (long)line, used);
            sys3(SYS_close, fd, 0, 0);
        }
    }
    if (real == NULL) {
        sys3(SYS_write, 2, (long)not_set, sizeof not_set - 1);
        sys3(SYS_exit_group, 127, 0, 0);
    }
    argv[0] = (char *)real;
    sys3(SYS_execve, (long)real, (long)argv, (long)envp);
    sys3(SYS_write, 2, (long)failed, sizeof failed - 1);
    sys3(SYS_exit_group, 127, 0, 0);
    __builtin_unreachable();
}

/* The entry point: the stack pointer as the kernel left it, aligned for the call. */
__asm__(".globl _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call spawnstamp_entry\n"
        "  hlt\n");

#endif
