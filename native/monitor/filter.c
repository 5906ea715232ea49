/* The monitor's part in precompiled seccomp filters: see filter.h. */
#define _GNU_SOURCE
#include "filter.h"
#include "atomic-file.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

/* Seccomp_filters of /proc/PID/status (PID 0: this process), or -1. */
static int filter_count(pid_t pid)
{
	char path[64], line[256];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/self/status");
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Seccomp_filters: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

int capture_filter(pid_t pid, const char *path, int *died, int *status)
{
	*died = 0;
	int own = filter_count(0), its = filter_count(pid);
	if (own < 0 || its != own + 1)
		return 1;
	/* Seized and interrupted, the init stops wherever it is (blocked opening exec.fifo); the
	 * open restarts once it is detached. */
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
		return -1;
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) {
		int e = errno;
		ptrace(PTRACE_DETACH, pid, 0, 0);
		errno = e;
		return -1;
	}
	int st;
	pid_t w;
	while ((w = waitpid(pid, &st, __WALL)) < 0 && errno == EINTR)
		;
	if (w == pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
		*died = 1;
		*status = st;
		return 1;
	}
	int r = -1, e = 0;
	struct sock_filter *insns = NULL;
	/* Durable before it is visible: a later container loads it as its filter. */
	char tmp[4200];
	long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL);
	if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp)
		errno = ENAMETOOLONG;
	else if (n > 0 && n <= 4096 && (insns = calloc((size_t)n, sizeof *insns)) != NULL &&
		 ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, insns) == n)
		r = write_file_atomically(path, tmp, insns, (size_t)n * sizeof *insns);
	e = errno;
	free(insns);
	ptrace(PTRACE_DETACH, pid, 0, 0);
	errno = e;
	return r;
}
