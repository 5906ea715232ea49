/*
 * Go's exec.LookPath (Go 1.19, as runc 1.1 runs it in the container before exec), in C, so
 * that hull resolves a container's command exactly as runc would and fails with runc's words.
 * Used where runc no longer looks the command up itself (the precompiled seccomp filter's
 * helper is the program runc starts, docs/ARCHITECTURE.md "Precompiled seccomp filter"):
 * by the monitor and the engine before the start, inside the container's root, and by the
 * helper itself inside the container.
 */
#ifndef HULL_LOOKPATH_H
#define HULL_LOOKPATH_H

#include <stddef.h>

/*
 * Resolve `file` like exec.LookPath with PATH `path_env` (NULL or "" when unset). With
 * root_fd >= 0 every stat happens inside that directory as its root (openat2
 * RESOLVE_IN_ROOT, so absolute symlinks stay inside), relative names against `cwd` (the
 * process's working directory inside the root); with root_fd < 0 plain stat(2) in this
 * process. On success returns 0 and writes the path to exec into out; otherwise returns the
 * exit status Docker gives the failure (127 not found, 126 otherwise) and writes Go's error
 * text (`exec: "x": executable file not found in $PATH`) into err.
 */
int look_path(int root_fd, const char *cwd, const char *file, const char *path_env, char *out, size_t out_len,
	      char *err, size_t err_len);

/*
 * look_path inside the root of process `pid` (/proc/PID/root: its mount namespace's view, as
 * runc's init sees it after pivot_root), relative names against `cwd` in there.
 */
int look_path_in_process(int pid, const char *cwd, const char *file, const char *path_env, char *out, size_t out_len,
			 char *err, size_t err_len);

#endif
