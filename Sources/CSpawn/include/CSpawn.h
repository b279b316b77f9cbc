#ifndef LIMAHOST_CSPAWN_H
#define LIMAHOST_CSPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` in a new session (its own process group),
/// stdin from /dev/null, stdout and stderr on the given descriptors, in `cwd` when
/// not NULL. When `set_ids` is non-zero the child first drops every supplementary
/// group and takes `gid` then `uid` (real, effective and saved).
///
/// The child is made with clone(CLONE_VM | CLONE_VFORK) like posix_spawn, and
/// changes its identity with raw system calls: glibc's setuid/setgroups would try
/// to signal every thread of the parent, which deadlocks in the child of a
/// multi-threaded process. No helper program (setpriv) is executed.
///
/// When `gate_fd` is not -1, the child, once ready, reads one byte from it before
/// execve: 1 lets it exec, anything else (0, end of file) ends it with ECANCELED. The
/// parent thread waits meanwhile (vfork), so another thread must write that byte.
///
/// Returns 0 with `*pid` and `*pidfd` (-1 when pidfd_open is not available) set,
/// or an errno value; a failure in the child (chdir, the identity change, execve)
/// is returned the same way, with the child already reaped.
int limahost_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int set_ids, uid_t uid,
                   gid_t gid, int stdout_fd, int stderr_fd, int gate_fd, pid_t *pid, int *pidfd);

/// pipe2(O_CLOEXEC): 0, or an errno value.
int limahost_pipe(int fds[2]);

/// A non-blocking, close-on-exec eventfd, or -1 with errno set.
int limahost_eventfd(void);

/// Starts writing back the dirty pages of the file at `path` without waiting
/// (sync_file_range with SYNC_FILE_RANGE_WRITE): a later fdatasync then finds the
/// data on its way. Durability still comes from that fdatasync. 0 or an errno value.
int limahost_start_writeback(const char *path);

#endif
