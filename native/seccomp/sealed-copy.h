/*
 * A sealed in-memory copy of a file, for the files hull hands a container's first program
 * (the seccomp helper and its filter, native/seccomp/hull-seccomp-exec.c). An fd of the host
 * file itself could be reopened for writing through /proc/PID/fd by a process in the
 * container that may ptrace the helper (CAP_SYS_PTRACE), and the filter is the cache's own
 * inode; a sealed memfd cannot be changed by anyone (runc runs itself from such a copy for
 * the same reason, CVE-2019-5736).
 */
#ifndef HULL_SEALED_COPY_H
#define HULL_SEALED_COPY_H

/* The copy's fd (close-on-exec), or -1 with errno set. `exec`: the copy will be executed. */
int sealed_copy(const char *path, const char *name, int exec);

#endif
