/*
 * Go's exec.LookPath (Go 1.19, as runc 1.1 runs it in the container before exec), in C, so
 * that hull resolves a container's command exactly as runc would and fails with runc's words.
 * Used where runc no longer looks the command up itself (the precompiled seccomp filter's
 * helper is the program runc starts, docs/ARCHITECTURE.md "Precompiled seccomp filter"):
 * by the monitor (create) and the engine (exec) before the start, in the container's mount
 * namespace and with the process's credentials, and by the helper itself inside the container.
 */
#ifndef HULL_LOOKPATH_H
#define HULL_LOOKPATH_H

#include <stddef.h>

/*
 * Resolve `file` like exec.LookPath with PATH `path_env` (NULL or "" when unset), with this
 * process's root, working directory and credentials. On success returns 0 and writes the path to exec into out; otherwise returns the
 * exit status Docker gives the failure (127 not found, 126 otherwise) and writes Go's error
 * text (`exec: "x": executable file not found in $PATH`) into err.
 */
int look_path(const char *file, const char *path_env, char *out, size_t out_len, char *err, size_t err_len);

/* Who looks the command up: the process's user, groups and effective capabilities (a mask). */
struct lookup_creds {
	unsigned uid, gid;
	int n_groups;
	const unsigned *groups;
	unsigned long long caps;
};

/*
 * Permitted and effective sets cut to `keep` (a capability mask), the inheritable set
 * emptied: what a process keeps for a look-up and execve as runc's init makes them (the
 * effective set equals the permitted one there). Raw system calls, so a vfork child may call
 * it. 0, or -1 with errno set.
 */
int keep_capabilities(unsigned long long keep);

/*
 * look_path as runc's init runs it: in the mount namespace of process `pid` (from that
 * namespace's root, which is not /proc/PID/root when that process chrooted), with `creds`,
 * relative names against `cwd`. In a vfork child, so the caller's own namespace, credentials
 * and threads are untouched (raw system calls only: glibc's setuid would change every thread
 * of the parent whose memory the child shares). 0 also when the look-up cannot be made (the
 * process is gone, the credentials are refused, no `cwd`): the runtime then fails with its
 * own words, and the helper looks the command up again before its execve in any case.
 */
int look_path_as(int pid, const struct lookup_creds *creds, const char *cwd, const char *file, const char *path_env,
		 char *err, size_t err_len);

#endif
