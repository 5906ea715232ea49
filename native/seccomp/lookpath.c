/* Go's exec.LookPath in C: see lookpath.h. */
#define _GNU_SOURCE
#include "lookpath.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* stat(2) of `path`, inside root_fd when it is one (see lookpath.h). */
static int stat_in(int root_fd, const char *cwd, const char *path, struct stat *st)
{
	if (root_fd < 0)
		return stat(path, st);
	char full[8192];
	int n = path[0] == '/' ? snprintf(full, sizeof full, "%s", path)
			       : snprintf(full, sizeof full, "%s/%s", cwd && *cwd ? cwd : "/", path);
	if (n < 0 || (size_t)n >= sizeof full) {
		errno = ENAMETOOLONG;
		return -1;
	}
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	int fd = (int)syscall(SYS_openat2, root_fd, full, &how, sizeof how);
	if (fd < 0)
		return -1;
	int r = fstat(fd, st);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* Go's findExecutable: 0, or an errno (EACCES for "permission denied"). */
static int find_executable(int root_fd, const char *cwd, const char *path)
{
	struct stat st;
	if (stat_in(root_fd, cwd, path, &st) < 0)
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

int look_path(int root_fd, const char *cwd, const char *file, const char *path_env, char *out, size_t out_len,
	      char *err, size_t err_len)
{
	char why[256];
	if (strchr(file, '/')) {
		int e = find_executable(root_fd, cwd, file);
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
		if (join(dir, dir_len, file, cand, sizeof cand) == 0 && find_executable(root_fd, cwd, cand) == 0) {
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

int look_path_in_process(int pid, const char *cwd, const char *file, const char *path_env, char *out, size_t out_len,
			 char *err, size_t err_len)
{
	char root[64];
	snprintf(root, sizeof root, "/proc/%d/root", pid);
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "open %s: %s", root, strerror(errno));
		return 126;
	}
	int r = look_path(fd, cwd, file, path_env, out, out_len, err, err_len);
	close(fd);
	return r;
}
