/* The pickup-latency probe: configured as the agent's limactl, it appends
 * "<CLOCK_REALTIME ns> <argv...>" to $LIMA_BENCH_STAMPS the moment the process
 * runs, then execs the real limactl ($LIMA_BENCH_LIMACTL) with the same
 * arguments. A C program starts in well under a millisecond, so the stamp is
 * the executor starting limactl, not the stand-in's own Swift start-up.
 * Benchmarks only; never installed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *stamps = getenv("LIMA_BENCH_STAMPS");
    const char *real = getenv("LIMA_BENCH_LIMACTL");
    if (stamps != NULL) {
        char line[4096];
        int used = snprintf(line, sizeof line, "%lld", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
        for (int i = 1; i < argc && used < (int)sizeof line - 2; i++) {
            used += snprintf(line + used, sizeof line - used, " %s", argv[i]);
        }
        if (used > (int)sizeof line - 2) used = (int)sizeof line - 2;
        line[used++] = '\n';
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
    execv(real, argv);
    perror("spawnstamp: execv");
    return 127;
}
