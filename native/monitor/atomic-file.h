/* Files other processes read whole: exit.json, a captured seccomp filter. */
#ifndef HULL_MONITOR_ATOMIC_FILE_H
#define HULL_MONITOR_ATOMIC_FILE_H

#include <stddef.h>

/*
 * Write `len` bytes to `tmp`, fsync it, and rename it onto `path`: a reader sees the whole
 * file, durably, or none. 0, or -1 with errno set and `tmp` removed.
 */
int write_file_atomically(const char *path, const char *tmp, const void *buf, size_t len);

#endif
