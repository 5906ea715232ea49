/* Go's exec.LookPath in C: see lookpath.h. */
#define _GNU_SOURCE
#include "lookpath.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Go's findExecutable: 0, or an errno (EACCES for "permission denied"). */
static int find_executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno ? errno : ENOENT;
	if (!S_ISDIR(st.st_mode) && (st.st_mode & 0111))
		return 0;
	return -EACCES; /* fs.ErrPermission: not a stat error, so no "stat PATH: " before it */
}

/* Go's syscall.Errno text: strerror's, first letter lowercase. */
static void go_errno(int e, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(e));
	if (buf[0])
		buf[0] = (char)tolower((unsigned char)buf[0]);
}

/* filepath.Join(dir, file) for a file without '/': dir cleaned of trailing slashes. */
static int join(const char *dir, size_t dir_len, const char *file, char *out, size_t out_len)
{
	while (dir_len > 1 && dir[dir_len - 1] == '/')
		dir_len--;
	int n = snprintf(out, out_len, "%.*s%s%s", (int)dir_len, dir, dir_len == 1 && dir[0] == '/' ? "" : "/", file);
	return n >= 0 && (size_t)n < out_len ? 0 : -1;
}

int look_path(const char *file, const char *path_env, char *out, size_t out_len, char *err, size_t err_len)
{
	char why[256];
	if (strchr(file, '/')) {
		int e = find_executable(file);
		if (e == 0) {
			snprintf(out, out_len, "%s", file);
			return 0;
		}
		if (e == -EACCES) {
			snprintf(err, err_len, "exec: \"%s\": permission denied", file);
			return 126;
		}
		go_errno(e, why, sizeof why);
		snprintf(err, err_len, "exec: \"%s\": stat %s: %s", file, file, why);
		return e == ENOENT || e == ENOTDIR ? 127 : 126;
	}
	/* filepath.SplitList: nothing for an empty PATH, otherwise every field, empty ones too. */
	for (const char *s = path_env && *path_env ? path_env : NULL; s;) {
		const char *end = strchrnul(s, ':');
		const char *dir = s;
		size_t dir_len = (size_t)(end - s);
		if (dir_len == 0) { /* Unix shell semantics: "" means "." */
			dir = ".";
			dir_len = 1;
		}
		char cand[4096];
		if (join(dir, dir_len, file, cand, sizeof cand) == 0 && find_executable(cand) == 0) {
			if (cand[0] != '/') { /* Go 1.19's ErrDot */
				snprintf(err, err_len, "exec: \"%s\": cannot run executable found relative to current directory", file);
				return 126;
			}
			snprintf(out, out_len, "%s", cand);
			return 0;
		}
		s = *end ? end + 1 : NULL;
	}
	snprintf(err, err_len, "exec: \"%s\": executable file not found in $PATH", file);
	return 127;
}

int keep_capabilities(unsigned long long keep)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		data[i].permitted &= (unsigned)(keep >> (32 * i));
		data[i].effective = data[i].permitted;
		data[i].inheritable = 0;
	}
	return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * In the vfork child: become the looked-up process (see look_path_as); 0 or -1. The working
 * directory as runc's finalizeNamespace enters it: as root first, and only when that is refused,
 * again as the process's user.
 */
static int become(int ns_fd, const struct lookup_creds *c, const char *cwd)
{
	if (!cwd || !*cwd)
		cwd = "/";
	if (syscall(SYS_setns, ns_fd, CLONE_NEWNS) < 0)
		return -1;
	long in_cwd = syscall(SYS_chdir, cwd);
	if (in_cwd < 0 && errno != EACCES && errno != EPERM)
		return -1;
	if (syscall(SYS_setgroups, (size_t)c->n_groups, c->groups) < 0 ||
	    syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0 || syscall(SYS_prctl, PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0 ||
	    syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0 || keep_capabilities(c->caps) < 0 ||
	    (in_cwd < 0 && syscall(SYS_chdir, cwd) < 0))
		return -1;
	return 0;
}

int look_path_as(int pid, const struct lookup_creds *creds, const char *cwd, const char *file, const char *path_env,
		 char *err, size_t err_len)
{
	char ns[64], found[4096];
	snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", pid);
	int fd = open(ns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* Written by the child, which shares this memory until it exits. */
	volatile int status = 0;
	pid_t child = vfork();
	if (child == 0) {
		if (become(fd, creds, cwd) == 0)
			status = look_path(file, path_env, found, sizeof found, err, err_len);
		_exit(0);
	}
	close(fd);
	if (child < 0)
		return 0;
	int ws;
	while (waitpid(child, &ws, __WALL) < 0 && errno == EINTR)
		;
	return status;
}
