/*
 * hull-seccomp-exec: the first program of a container (or exec) whose seccomp filter hull
 * loads itself, precompiled, instead of having runc compile the profile with libseccomp at
 * every start (~13 ms of CPU for Docker's profile on two ABIs). docs/ARCHITECTURE.md,
 * "Precompiled seccomp filter".
 *
 * runc starts it as /proc/self/fd/3 (a sealed memfd copy of this binary, passed with
 * `--preserve-fds 2`), fd 4 holding the filter: the exact BPF runc itself generated for the
 * same profile (captured from an earlier container's init). runc has done everything else
 * (namespaces, mounts, cgroups, user, rlimits, no_new_privs, the working directory), and gave
 * this program CAP_SYS_ADMIN and CAP_SETPCAP on top of the container's capabilities, in every
 * set, only so that it can load the filter without no_new_privs and then drop what it was
 * given; and the process's permitted set as its inheritable and ambient sets too, since a
 * process that is not root keeps only its ambient set across runc's execve of this program.
 *
 *   /proc/self/fd/3 BOUNDING_HEX -- COMMAND [ARG...]
 *
 * In order: make itself undumpable (nothing in the container may ptrace it while it holds
 * the extra capabilities); load the filter (as runc does: no flags, before the capability
 * changes, so they pass the filter too); keep only BOUNDING_HEX in the bounding, permitted
 * and effective sets (hull's specs give a process the same three); clear the inheritable and
 * ambient sets; close fds 3 and 4; resolve COMMAND as runc would (Go's exec.LookPath) and
 * execve it, both with the effective set runc's init has for them. After that execve the
 * process has exactly the capabilities runc would have given it (root: the bounding set; any
 * other user: none), and the same filter.
 *
 * Static, because it runs inside the container's root, whatever libc the image has (or none).
 * Any failure ends the process before the command runs, with Docker's 126 (127 for a command
 * that is not there), never with the command running unfiltered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lookpath.h"

enum { SELF_FD = 3, FILTER_FD = 4, MAX_INSNS = 4096 };

extern char **environ;

static void fail(int status, const char *what, int err)
{
	if (err)
		dprintf(2, "hull-seccomp-exec: %s: %s\n", what, strerror(err));
	else
		dprintf(2, "hull-seccomp-exec: %s\n", what);
	_exit(status);
}

static void load_filter(void)
{
	static struct sock_filter insns[MAX_INSNS];
	struct stat st;
	if (fstat(FILTER_FD, &st) < 0)
		fail(126, "filter fd 4", errno);
	if (st.st_size <= 0 || st.st_size % (off_t)sizeof insns[0] || st.st_size > (off_t)sizeof insns)
		fail(126, "filter fd 4: not a BPF program", 0);
	size_t len = (size_t)st.st_size, got = 0;
	while (got < len) {
		ssize_t n = pread(FILTER_FD, (char *)insns + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail(126, "filter fd 4: short read", n < 0 ? errno : 0);
		got += (size_t)n;
	}
	struct sock_fprog prog = { .len = (unsigned short)(len / sizeof insns[0]), .filter = insns };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		fail(126, "loading the seccomp filter", errno);
}

static void set_capabilities(uint64_t bounding)
{
	int last = 0;
	while (prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
		last++;
	for (int cap = 0; cap <= last; cap++)
		if (!(bounding & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			fail(126, "dropping from the bounding set", errno);
	if (keep_capabilities(bounding) < 0)
		fail(126, "capset", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail(126, "clearing the ambient set", errno);
}

int main(int argc, char **argv)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(126, "prctl(PR_SET_DUMPABLE)", errno);
	if (argc < 4 || strcmp(argv[2], "--") != 0)
		fail(126, "usage: hull-seccomp-exec BOUNDING_HEX -- COMMAND [ARG...]", 0);
	char *end;
	errno = 0;
	uint64_t bounding = strtoull(argv[1], &end, 16);
	if (errno || *end || end == argv[1])
		fail(126, "bad bounding set", 0);
	load_filter();
	set_capabilities(bounding);
	close(FILTER_FD);
	close(SELF_FD);

	char path[4096], err[4400];
	int status = look_path(argv[3], getenv("PATH"), path, sizeof path, err, sizeof err);
	if (status)
		fail(status, err, 0);
	execve(path, argv + 3, environ);
	int e = errno;
	snprintf(err, sizeof err, "exec: \"%s\"", argv[3]);
	fail(e == ENOENT ? 127 : 126, err, e);
	return 126;
}
