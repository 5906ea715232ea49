/*
 * The monitor's part in hull's precompiled seccomp filters (docs/ARCHITECTURE.md,
 * "Precompiled seccomp filter"): capturing the filter runc generated. The
 * command's look-up before the start is native/seccomp/lookpath.h's look_path_in_process.
 */
#ifndef HULL_MONITOR_FILTER_H
#define HULL_MONITOR_FILTER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write the seccomp filter runc loaded into its init `pid` (blocked on exec.fifo, filter
 * already loaded: runc loads it before dropping privileges unless no_new_privs is set) to
 * `path`, atomically. Only a filter of runc's own: when the init has exactly one filter more
 * than this process. 0 written; 1 nothing to capture; -1 failed (errno). If the init died
 * meanwhile, *status gets its wait status and *died is set (the caller records the exit).
 */
int capture_filter(pid_t pid, const char *path, int *died, int *status);

#endif
