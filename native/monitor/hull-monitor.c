/*
 * hull-monitor: the per-container process that outlives `hull run -d`.
 *
 * It creates the container with the OCI runtime, holds the container's stdio, writes the
 * json-file log, serves attach clients over a unix socket, reaps the container's init (as a
 * child subreaper), records the exit status and deletes the container. The protocol is in
 * docs/monitor.md; this file is the reference for what the monitor does, step by step.
 *
 * Why C and why this shape: one monitor per running container, so its idle footprint is the
 * per-container memory budget. One thread, poll(), static buffers, and heap only for attached
 * clients (mmap'd per client and unmapped when the client goes, so memory returns to the
 * kernel). No per-line allocation, so a chatty container cannot grow the monitor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "atomic-file.h"
#include "filter.h"
#include "../seccomp/lookpath.h"
#include "../seccomp/sealed-copy.h"

/* ---- limits ------------------------------------------------------------------------------ */

/* Docker's copier: a line longer than this is logged in pieces (partial messages). */
#define LINE_MAX_BYTES (16 * 1024)
/* One read from the container; also the largest output frame payload. */
#define READ_CHUNK (16 * 1024)
#define MAX_CLIENTS 32
/* Output queued per client beyond its socket buffer. While some client's queue is nearly
 * full the monitor stops reading the container's output (which then blocks on its pipe, as
 * Docker's attach does); a client that takes nothing for STALL_MS is dropped and reading
 * resumes. So attached output is lossless for any client that keeps reading, and a stuck
 * client holds the container up for STALL_MS at most. */
#define CLIENT_OUT_CAP (256 * 1024)
#define STALL_MS 5000
/* Client-to-monitor bytes buffered per client; stdin payloads stream through it. */
#define CLIENT_IN_CAP 4096
#define FRAME_HDR 5
/* After init exits, how long the output pipes may stay silent without reaching EOF (a process
 * outside the container's pid namespace may still hold them) before the monitor stops reading. */
#define DRAIN_MS 2000
/* Final frames to clients get this long before the clients are closed. */
#define FLUSH_MS 1000
#define DELETE_TIMEOUT_MS 30000
/* How long a `runtime start` still in progress may delay the delete (see wait_start_done). */
#define START_WAIT_MS 1000
/* How long an attached CLI that announced it records the exit itself (frame 5) may take to
 * claim it before the exit command runs anyway (see exit_claimed). */
#define CLAIM_WAIT_MS 10000

/* How long the container's init may take to write its "0" once we opened runc's exec.fifo
 * (it is normally already blocked waiting for a reader). */
#define START_TIMEOUT_MS 10000

enum { F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_CLOSE_STDIN = 3, F_RESIZE = 4, F_CLAIM_EXIT = 5, F_START = 6 };
/* The first payload byte of a start reply (frame 6, monitor to client). */
enum { START_OK = 0, START_NO_FIFO = 1, START_FAILED = 2 };

/* ---- options ----------------------------------------------------------------------------- */

static struct {
	const char *id;
	char *bundle, *runtime, *runtime_root, *state_dir, *log_path;
	int sync_fd;
	int terminal, want_stdin, stdin_socket;
	long long log_max_size;
	int log_max_files;
	char *exit_command;
	char **exit_args;
	int n_exit_args;
	long timeout_create;
	char *exit_status_file;
	/* --resize-fifo: a VM's terminal size goes to its guest as a `winsize ROWS COLS` line here. */
	char *resize_fifo;
	/* --seccomp-helper, --seccomp-filter: runc's fds 3 and 4 (`--preserve-fds 2`), sealed copies
	 * (native/seccomp/sealed-copy.h), for the precompiled filter's helper. */
	char *seccomp_helper, *seccomp_filter;
	/* --seccomp-capture: where runc's seccomp filter goes once created (filter.h). */
	char *seccomp_capture;
	/* --look-path (with -cwd, -env, -user, -caps): the command checked once created, as runc's
	 * init would look it up (native/seccomp/lookpath.h). */
	char *look_path, *look_cwd, *look_env;
	struct lookup_creds look_creds;
	int look_user_set;
} opt = { .sync_fd = -1, .log_max_files = 1 };

/* On the heap, not PATH_MAX arrays: each static array would cost a resident page. */
static char *pid_path, *attach_path, *console_path, *exit_path, *exit_tmp_path, *runtime_log_path;
static char *oom_path, *claim_path;
/* RUNTIME_ROOT/ID/exec.fifo: runc's created state (see start_begin). */
static char *fifo_path;
/* The attached CLI process that said it records the exit itself (frame 5); 0: none. */
static pid_t claimant;

/* Where the start-up time goes, reported on the sync line for the engine's HULL_TRACE spans:
 * epoch µs of the monitor's start, `runtime create`'s spawn and exit. */
static struct { long long start, create, created; } t_us;

/* ---- state ------------------------------------------------------------------------------- */

static int sig_fd = -1;
static int listen_fd = -1;
/* Container output: [0]=stdout (pipe or pty master), [1]=stderr pipe (none with a pty). */
static int out_fd[2] = { -1, -1 };
/* Where stdin frames go: the stdin pipe, or the pty master with --terminal --stdin. */
static int in_fd = -1;
/* --stdin-socket: our half-closed end, held open until the end (see close_stdin). */
static int stdin_sock_kept = -1;
static int pty_fd = -1;
static int pty_last_nl = 1;

static pid_t init_pid;
static int init_exited;
static int init_status;

/* Children reaped before we knew which pid was init (create may race with an early death). */
static struct { pid_t pid; int status; } early[8];
static int n_early;

static int log_fd = -1;
static long long log_size;

struct client {
	int fd;
	int rd_eof;	 /* peer shut down its write side; keep sending output */
	long long progress_ms; /* last time the socket took output (or had nothing queued) */
	int blocked;	 /* a stdin payload waits for the container's stdin to drain */
	int in_frame;
	unsigned char type;
	uint32_t remaining;
	size_t in_len, out_len;
	unsigned char *in, *out; /* one mmap: CLIENT_IN_CAP + CLIENT_OUT_CAP */
};
static struct client clients[MAX_CLIENTS];
static int n_clients;

/* Line assembly per stream (Docker's copier semantics). */
static char line_buf[2][LINE_MAX_BYTES];
static size_t line_len[2];
static char read_buf[READ_CHUNK + FRAME_HDR];
/* JSON is written through this small staging buffer, never built whole in memory. */
static char stage[8192];
static size_t stage_len;

/* ---- small helpers ----------------------------------------------------------------------- */

static long long epoch_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rfc3339nano(char *out, size_t n, const struct timespec *ts)
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int path_join(char **out, const char *dir, const char *name)
{
	return asprintf(out, "%s/%s", dir, name) < 0 ? -1 : 0;
}

/* Relative paths are resolved before the daemon chdirs to "/". */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX], *out;
	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

/* ---- JSON escaping (Docker's jsonlog rules) ---------------------------------------------- */

/*
 * Length of the next valid UTF-8 sequence at s (1..4), or 0 when it is invalid: overlong
 * forms, surrogates and code points above U+10FFFF are invalid, as in Go's utf8.DecodeRune.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char b = s[0];
	size_t len;
	uint32_t c, min;
	if (b < 0x80) {
		*cp = b;
		return 1;
	} else if ((b & 0xe0) == 0xc0) {
		len = 2, c = b & 0x1f, min = 0x80;
	} else if ((b & 0xf0) == 0xe0) {
		len = 3, c = b & 0x0f, min = 0x800;
	} else if ((b & 0xf8) == 0xf0) {
		len = 4, c = b & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

struct sink {
	int fd;		 /* -1: only count */
	char *buf;	 /* with fd == -1 and buf set: write into buf (bounded by cap) */
	size_t cap, len; /* len counts every byte, written or not */
};

static void sink_flush(struct sink *k)
{
	if (k->fd >= 0 && stage_len > 0) {
		(void)write_all(k->fd, stage, stage_len);
		stage_len = 0;
	}
}

static void sink_put(struct sink *k, const char *s, size_t n)
{
	if (k->fd >= 0) {
		if (stage_len + n > sizeof stage)
			sink_flush(k);
		if (n > sizeof stage) {
			/* A long run without escapes goes straight out. */
			(void)write_all(k->fd, s, n);
		} else {
			memcpy(stage + stage_len, s, n);
			stage_len += n;
		}
	} else if (k->buf) {
		for (size_t i = 0; i < n && k->len + i + 1 < k->cap; i++)
			k->buf[k->len + i] = s[i];
	}
	k->len += n;
}

static void sink_str(struct sink *k, const char *s)
{
	sink_put(k, s, strlen(s));
}

/*
 * A JSON string body as Docker's json-file writes it: `"` and `\` escaped, \n and \r short,
 * other control characters and <, >, & as \u00XX, U+2028/2029 escaped, invalid UTF-8 as
 * \ufffd (one per bad byte).
 */
static void sink_json(struct sink *k, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0, i = 0;
	while (i < n) {
		unsigned char b = s[i];
		if (b < 0x80) {
			if (b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&') {
				i++;
				continue;
			}
			sink_put(k, (const char *)s + start, i - start);
			if (b == '\\' || b == '"') {
				char e[2] = { '\\', (char)b };
				sink_put(k, e, 2);
			} else if (b == '\n') {
				sink_put(k, "\\n", 2);
			} else if (b == '\r') {
				sink_put(k, "\\r", 2);
			} else {
				char e[6] = { '\\', 'u', '0', '0', hex[b >> 4], hex[b & 15] };
				sink_put(k, e, 6);
			}
			start = ++i;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_seq(s + i, n - i, &cp);
		if (len == 0) {
			sink_put(k, (const char *)s + start, i - start);
			sink_put(k, "\\ufffd", 6);
			start = ++i;
			continue;
		}
		if (cp == 0x2028 || cp == 0x2029) {
			sink_put(k, (const char *)s + start, i - start);
			sink_put(k, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
			start = i + len;
		}
		i += len;
	}
	sink_put(k, (const char *)s + start, n - start);
}

/* ---- sync line --------------------------------------------------------------------------- */

static void sync_write(const char *s)
{
	if (opt.sync_fd >= 0) {
		(void)write_all(opt.sync_fd, s, strlen(s));
		close(opt.sync_fd);
		opt.sync_fd = -1;
	}
}

static void sync_error(const char *msg, size_t n)
{
	char buf[4096 + 64];
	struct sink k = { .fd = -1, .buf = buf, .cap = sizeof buf - 4 };
	/* Trim surrounding whitespace: runc ends its message with a newline. */
	while (n > 0 && (msg[0] == ' ' || msg[0] == '\n' || msg[0] == '\r' || msg[0] == '\t'))
		msg++, n--;
	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '\t'))
		n--;
	sink_str(&k, "{\"error\":\"");
	sink_json(&k, (const unsigned char *)msg, n);
	sink_str(&k, "\"}\n");
	if (k.len >= k.cap) { /* truncated: end the JSON anyway */
		memcpy(buf + k.cap - 8, "...\"}\n", 6);
		k.len = k.cap - 2;
	}
	buf[k.len] = 0;
	sync_write(buf);
}

static void sync_errorf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	sync_error(msg, (size_t)n);
}

static void usage_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "hull-monitor: %s\n", msg);
	sync_errorf("hull-monitor: %s", msg);
	exit(2);
}

/* ---- children ---------------------------------------------------------------------------- */

/* In a child before exec: defaults for every signal we changed, nothing blocked (ignored and
 * blocked signals survive exec and the container would inherit them), only stdio open. */
static void child_reset(int first_closed)
{
	sigset_t none;
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Every fd of ours is O_CLOEXEC, but whatever the caller leaked to us must not reach the
	 * container either. */
	if (close_range((unsigned)first_closed, ~0U, 0) < 0) {
		for (int fd = first_closed; fd < 1024; fd++)
			close(fd);
	}
}

/* fork+exec; stdio of the child from in/out/err (-1: /dev/null), and `keep` (n_keep fds) as
 * its fds 3, 4, ... */
static pid_t spawn_keeping(char *const argv[], int in, int out, int err, const int *keep, int n_keep)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int devnull = open("/dev/null", O_RDWR);
	if (devnull < 0)
		_exit(127);
	/* dup2 clears O_CLOEXEC on the copies, which is what the child needs. */
	if (dup2(in >= 0 ? in : devnull, 0) < 0 || dup2(out >= 0 ? out : devnull, 1) < 0 ||
	    dup2(err >= 0 ? err : devnull, 2) < 0)
		_exit(127);
	/* Out of the way of 3, 4, ... first (a kept fd may be one of them), then into place. */
	int high[2];
	for (int i = 0; i < n_keep; i++)
		if ((high[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, 64)) < 0)
			_exit(127);
	for (int i = 0; i < n_keep; i++)
		if (dup2(high[i], 3 + i) < 0)
			_exit(127);
	child_reset(3 + n_keep);
	execvp(argv[0], argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static pid_t spawn(char *const argv[], int in, int out, int err)
{
	return spawn_keeping(argv, in, out, err, NULL, 0);
}

static void record_exit(pid_t pid, int status)
{
	if (init_pid > 0 && pid == init_pid) {
		init_exited = 1;
		init_status = status;
	} else if (init_pid == 0 && n_early < (int)(sizeof early / sizeof early[0])) {
		early[n_early].pid = pid;
		early[n_early].status = status;
		n_early++;
	}
}

/* Reap every child that has exited; returns 1 when `want` was among them (status in *st). */
static int reap(pid_t want, int *st)
{
	int found = 0, status;
	pid_t pid;
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (want > 0 && pid == want) {
			found = 1;
			if (st)
				*st = status;
		} else {
			record_exit(pid, status);
		}
	}
	return found;
}

/* Wait for one child with a deadline (0 = none), reaping others meanwhile. -1 on timeout. */
static int wait_child(pid_t pid, int *status, long long deadline_ms)
{
	for (;;) {
		if (reap(pid, status))
			return 0;
		int timeout = -1;
		if (deadline_ms > 0) {
			long long left = deadline_ms - now_ms();
			if (left <= 0)
				return -1;
			timeout = (int)left;
		}
		struct pollfd p = { .fd = sig_fd, .events = POLLIN };
		poll(&p, 1, timeout);
	}
}

static void run_delete(void)
{
	char *argv[] = { opt.runtime, "--root", opt.runtime_root, "delete", "--force", (char *)opt.id, NULL };
	/* No runtime root: the state root was deleted under us, and runc would create its --root
	 * again (MkdirAll) with nothing to delete in it. */
	if (access(opt.runtime_root, F_OK) != 0)
		return;
	pid_t pid = spawn(argv, -1, -1, -1);
	int status;
	if (pid > 0 && wait_child(pid, &status, now_ms() + DELETE_TIMEOUT_MS) < 0) {
		kill(pid, SIGKILL);
		wait_child(pid, &status, 0);
	}
}

/* ---- create ------------------------------------------------------------------------------ */

/* The container's memory cgroup, from /proc/<init>/cgroup, while init is alive. The OOM kill
 * counter is read from it when init exits and before `runtime delete` removes the cgroup. */
static void find_oom_file(void)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)init_pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char v1[PATH_MAX] = "", v2[PATH_MAX] = "";
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
		if (!b)
			continue;
		*b = 0;
		const char *ctrls = a + 1, *cg = b + 1;
		if (strcmp(ctrls, "") == 0 && strncmp(line, "0", 1) == 0) {
			snprintf(v2, sizeof v2, "%s", cg);
			continue;
		}
		/* v1 lists controllers comma-separated ("memory" alone on most hosts). */
		char tmp[256];
		snprintf(tmp, sizeof tmp, ",%s,", ctrls);
		if (strstr(tmp, ",memory,"))
			snprintf(v1, sizeof v1, "%s", cg);
	}
	fclose(f);
	struct stat st;
	if (v1[0]) {
		if (asprintf(&oom_path, "/sys/fs/cgroup/memory%s/memory.oom_control", v1) < 0)
			oom_path = NULL;
	} else if (v2[0] && stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
		if (asprintf(&oom_path, "/sys/fs/cgroup%s/memory.events", v2) < 0)
			oom_path = NULL;
	}
}

static int read_oom_killed(void)
{
	char buf[1024];
	if (!oom_path)
		return 0;
	int fd = open(oom_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* Both files have an "oom_kill N" line (v1: memory.oom_control since Linux 4.13). */
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "oom_kill ", 9) == 0)
			return strtoll(l + 9, NULL, 10) > 0;
	}
	return 0;
}

/* Receive the pty master runc sends over the console socket (SCM_RIGHTS). */
static int recv_pty(int lfd, long long deadline_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int timeout = (int)(deadline_ms - now_ms());
	if (poll(&p, 1, timeout < 0 ? 0 : timeout) <= 0)
		return -1;
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return -1;
	char data[256];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	int fd = -1;
	if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) > 0) {
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	}
	close(c);
	return fd;
}

static size_t read_some(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	set_nonblock(fd);
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	return len;
}

static void remove_own_files(void)
{
	unlink(pid_path);
	unlink(console_path);
	unlink(attach_path);
	unlink(runtime_log_path);
}

/*
 * Right after `runtime create`, for a container whose seccomp filter hull loads itself
 * (filter.h): runc did not look the command up (its program is hull's helper), so the monitor
 * does, as runc's init would (look_path_as), and fails the create with runc's own words when
 * the command cannot run; and for one whose filter runc compiled, the filter is captured for
 * the next ones.
 */
static void created_checks(void)
{
	if (opt.look_path) {
		char err[4400];
		if (look_path_as(init_pid, &opt.look_creds, opt.look_cwd, opt.look_path, opt.look_env, err, sizeof err) != 0) {
			kill(init_pid, SIGKILL);
			run_delete();
			remove_own_files();
			sync_errorf("%s create failed: unable to start container process: %s", basename(opt.runtime), err);
			exit(1);
		}
	}
	if (opt.seccomp_capture) {
		int died = 0, status = 0;
		if (capture_filter(init_pid, opt.seccomp_capture, &died, &status) < 0)
			fprintf(stderr, "hull-monitor: capturing the seccomp filter: %s\n", strerror(errno));
		if (died)
			record_exit(init_pid, status);
	}
}

/*
 * `runtime create`. On success init_pid is set and the container's stdio is ours; on failure
 * the sync line carries runc's message and the monitor exits 1.
 */
static void create_container(void)
{
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, in_p[2] = { -1, -1 };
	int c_in = -1, c_out, c_err;

	if (opt.terminal) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(console_path) >= sizeof sa.sun_path)
			usage_fail("state dir path too long for a unix socket: %s", opt.state_dir);
		strcpy(sa.sun_path, console_path);
		unlink(console_path);
		listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		mode_t old = umask(0177);
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listen_fd, 1) < 0) {
			sync_errorf("console socket %s: %s", console_path, strerror(errno));
			exit(1);
		}
		umask(old);
		/* runc's own stdout/stderr (its error messages) land in one pipe; the container's
		 * stdio is the pty. */
		if (pipe2(err_p, O_CLOEXEC) < 0) {
			sync_errorf("pipe: %s", strerror(errno));
			exit(1);
		}
		c_out = err_p[1];
		c_err = err_p[1];
	} else {
		if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
		    (opt.want_stdin && !opt.stdin_socket && pipe2(in_p, O_CLOEXEC) < 0) ||
		    (opt.want_stdin && opt.stdin_socket && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_p) < 0)) {
			sync_errorf("pipe: %s", strerror(errno));
			exit(1);
		}
		c_in = in_p[0];
		c_out = out_p[1];
		c_err = err_p[1];
	}

	/* --log keeps runc's own log lines (warnings) out of the container's stderr, which runc
	 * shares with the container; fatal errors still reach stderr, which is what we report. */
	char *argv[20];
	int a = 0;
	argv[a++] = opt.runtime;
	argv[a++] = "--root";
	argv[a++] = opt.runtime_root;
	argv[a++] = "--log";
	argv[a++] = runtime_log_path;
	argv[a++] = "--log-format";
	argv[a++] = "json";
	argv[a++] = "create";
	argv[a++] = "--bundle";
	argv[a++] = opt.bundle;
	argv[a++] = "--pid-file";
	argv[a++] = pid_path;
	if (opt.terminal) {
		argv[a++] = "--console-socket";
		argv[a++] = console_path;
	}
	int keep[2] = { -1, -1 }, n_keep = 0;
	if (opt.seccomp_helper) {
		const char *files[2] = { opt.seccomp_helper, opt.seccomp_filter };
		for (; n_keep < 2; n_keep++)
			if ((keep[n_keep] = sealed_copy(files[n_keep], n_keep ? "hull-seccomp-filter" : "hull-seccomp-exec", !n_keep)) < 0) {
				sync_errorf("copying %s: %s", files[n_keep], strerror(errno));
				exit(1);
			}
		argv[a++] = "--preserve-fds";
		argv[a++] = "2";
	}
	argv[a++] = (char *)opt.id;
	argv[a] = NULL;

	unlink(pid_path);
	t_us.create = epoch_us();
	pid_t rc = spawn_keeping(argv, c_in, c_out, c_err, keep, n_keep);
	for (int i = 0; i < n_keep; i++)
		close(keep[i]);
	if (rc < 0) {
		sync_errorf("fork: %s", strerror(errno));
		exit(1);
	}
	/* Only the container may hold the write ends, so their EOF means the container is done. */
	if (in_p[0] >= 0)
		close(in_p[0]);
	if (out_p[1] >= 0)
		close(out_p[1]);
	close(err_p[1]);

	int status = 0;
	long long deadline = opt.timeout_create > 0 ? now_ms() + opt.timeout_create * 1000LL : 0;
	int waited = wait_child(rc, &status, deadline);
	t_us.created = epoch_us();
	if (waited < 0) {
		kill(rc, SIGKILL);
		wait_child(rc, &status, 0);
		run_delete();
		remove_own_files();
		sync_errorf("%s create timed out after %ld seconds", opt.runtime, opt.timeout_create);
		exit(1);
	}

	char pidbuf[32] = "";
	int pfd = open(pid_path, O_RDONLY | O_CLOEXEC);
	if (pfd >= 0) {
		ssize_t n = read(pfd, pidbuf, sizeof pidbuf - 1);
		pidbuf[n > 0 ? n : 0] = 0;
		close(pfd);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || atoi(pidbuf) <= 0) {
		char msg[4096];
		size_t n = read_some(err_p[0], msg, sizeof msg);
		if (n == 0) {
			if (WIFSIGNALED(status))
				n = (size_t)snprintf(msg, sizeof msg, "%s create killed by signal %d", opt.runtime, WTERMSIG(status));
			else
				n = (size_t)snprintf(msg, sizeof msg, "%s create exited with status %d", opt.runtime, WEXITSTATUS(status));
		}
		run_delete();
		remove_own_files();
		sync_error(msg, n);
		exit(1);
	}
	init_pid = atoi(pidbuf);
	for (int i = 0; i < n_early; i++)
		if (early[i].pid == init_pid) {
			init_exited = 1;
			init_status = early[i].status;
		}
	if (!init_exited)
		created_checks();
	find_oom_file();

	if (opt.terminal) {
		close(err_p[0]);
		pty_fd = recv_pty(listen_fd, now_ms() + 10000);
		close(listen_fd);
		listen_fd = -1;
		unlink(console_path);
		if (pty_fd < 0) {
			run_delete();
			remove_own_files();
			sync_errorf("no terminal received from %s on the console socket", opt.runtime);
			exit(1);
		}
		set_nonblock(pty_fd);
		out_fd[0] = pty_fd;
		if (opt.want_stdin)
			in_fd = pty_fd;
	} else {
		out_fd[0] = out_p[0];
		out_fd[1] = err_p[0];
		set_nonblock(out_fd[0]);
		set_nonblock(out_fd[1]);
		if (opt.want_stdin) {
			in_fd = in_p[1];
			set_nonblock(in_fd);
		}
	}
}

/* ---- log file ---------------------------------------------------------------------------- */

static void log_open(void)
{
	log_fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	struct stat st;
	log_size = log_fd >= 0 && fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

/* Docker's json-file naming: log, log.1 … log.(max-files - 1); one file means truncation. */
static void log_rotate(void)
{
	char from[PATH_MAX], to[PATH_MAX];
	if (opt.log_max_files <= 1) {
		if (ftruncate(log_fd, 0) == 0)
			log_size = 0;
		return;
	}
	close(log_fd);
	for (int i = opt.log_max_files - 1; i >= 1; i--) {
		if (i == 1)
			snprintf(from, sizeof from, "%s", opt.log_path);
		else
			snprintf(from, sizeof from, "%s.%d", opt.log_path, i - 1);
		snprintf(to, sizeof to, "%s.%d", opt.log_path, i);
		rename(from, to);
	}
	log_fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	log_size = 0;
}

static void log_entry(int stream, const char *s, size_t n, const char *ts)
{
	static const char *const head[2] = { "{\"log\":\"", "{\"log\":\"" };
	static const char *const tail[2] = { "\",\"stream\":\"stdout\",\"time\":\"", "\",\"stream\":\"stderr\",\"time\":\"" };
	if (log_fd < 0)
		return;
	/* Measure first: rotation happens before a line that would push the file over the limit. */
	struct sink k = { .fd = -1 };
	sink_str(&k, head[stream]);
	sink_json(&k, (const unsigned char *)s, n);
	sink_str(&k, tail[stream]);
	sink_str(&k, ts);
	sink_str(&k, "\"}\n");
	if (opt.log_max_size > 0 && log_size > 0 && log_size + (long long)k.len > opt.log_max_size)
		log_rotate();
	if (log_fd < 0)
		return;
	struct sink w = { .fd = log_fd };
	sink_str(&w, head[stream]);
	sink_json(&w, (const unsigned char *)s, n);
	sink_str(&w, tail[stream]);
	sink_str(&w, ts);
	sink_str(&w, "\"}\n");
	sink_flush(&w);
	log_size += (long long)w.len;
}

/* Split a chunk into lines; a line longer than LINE_MAX_BYTES is logged in pieces, and an
 * unterminated tail waits in line_buf for the next chunk (or the end). */
static void log_chunk(int stream, const char *s, size_t n, const char *ts)
{
	while (n > 0) {
		const char *nl = memchr(s, '\n', n);
		size_t take = nl ? (size_t)(nl - s) + 1 : n;
		if (line_len[stream] == 0 && nl && take <= LINE_MAX_BYTES) {
			log_entry(stream, s, take, ts);
		} else {
			size_t room = LINE_MAX_BYTES - line_len[stream];
			size_t c = take < room ? take : room;
			memcpy(line_buf[stream] + line_len[stream], s, c);
			line_len[stream] += c;
			take = c;
			if (line_buf[stream][line_len[stream] - 1] == '\n' || line_len[stream] == LINE_MAX_BYTES) {
				log_entry(stream, line_buf[stream], line_len[stream], ts);
				line_len[stream] = 0;
			}
		}
		s += take;
		n -= take;
	}
}

static void log_flush_partial(int stream)
{
	if (line_len[stream] > 0) {
		char ts[48];
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		rfc3339nano(ts, sizeof ts, &now);
		log_entry(stream, line_buf[stream], line_len[stream], ts);
		line_len[stream] = 0;
	}
}

/* ---- attach clients ---------------------------------------------------------------------- */

static int start_client;

static void client_drop(struct client *c)
{
	if (c->fd == start_client)
		start_client = -1;
	close(c->fd);
	munmap(c->in, CLIENT_IN_CAP + CLIENT_OUT_CAP);
	*c = clients[--n_clients];
	memset(&clients[n_clients], 0, sizeof clients[n_clients]);
}

static void client_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (n_clients == MAX_CLIENTS) {
			close(fd);
			continue;
		}
		/* Pages of this mapping cost memory only once touched, and go back on munmap. */
		void *m = mmap(NULL, CLIENT_IN_CAP + CLIENT_OUT_CAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			close(fd);
			continue;
		}
		struct client *c = &clients[n_clients++];
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->progress_ms = now_ms();
		c->in = m;
		c->out = (unsigned char *)m + CLIENT_IN_CAP;
	}
}

/* Send what is queued; 0 when the queue is empty afterwards, 1 when some remains, -1 on error. */
static int client_flush(struct client *c)
{
	size_t off = 0;
	while (off < c->out_len) {
		ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		off += (size_t)w;
	}
	if (off > 0)
		c->progress_ms = now_ms();
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	return c->out_len > 0;
}

/* One frame to one client: sent at once when nothing is queued before it, the rest queued.
 * -1 when the client is broken or its queue would overflow (the caller drops it). */
static int client_send(struct client *c, int type, const char *s, size_t n)
{
	unsigned char hdr[FRAME_HDR] = { (unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
					 (unsigned char)(n >> 8), (unsigned char)n };
	size_t sent = 0;
	if (c->out_len == 0) {
		struct iovec iov[2] = { { hdr, FRAME_HDR }, { (void *)s, n } };
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		sent = w > 0 ? (size_t)w : 0;
		c->progress_ms = now_ms();
	}
	size_t total = FRAME_HDR + n;
	if (sent < total) {
		if (c->out_len + (total - sent) > CLIENT_OUT_CAP)
			return -1;
		for (size_t j = sent; j < total; j++)
			c->out[c->out_len++] = j < FRAME_HDR ? hdr[j] : (unsigned char)s[j - FRAME_HDR];
	}
	return 0;
}

/* One frame to every client. The loop stops reading output before a queue can overflow
 * (output_paused), so a drop here is only a last resort. */
static void broadcast(int type, const char *s, size_t n)
{
	for (int i = 0; i < n_clients;) {
		if (client_send(&clients[i], type, s, n) < 0) {
			client_drop(&clients[i]);
			continue;
		}
		i++;
	}
}

/* ---- start: runc's exec.fifo ------------------------------------------------------------ */

/*
 * `runc start` without runc (frame 6). runc's created state is its init blocked opening
 * RUNTIME_ROOT/ID/exec.fifo for writing; `runc start` opens it for reading, which lets init
 * write "0" and exec the workload (the write end is close-on-exec, so EOF follows the exec),
 * reads until EOF, checks the "0" and removes the FIFO, after which runc reports `running`
 * (runc 1.1 libcontainer: exec(), handleFifoResult()). The monitor does exactly that, inside
 * its loop: it already knows, from SIGCHLD, when init died instead. No FIFO (another runtime's
 * layout, or not created): the client runs the runtime's own `start`.
 */
static int start_fd = -1;
/* The fd of the client that asked (-1: it went away; the start goes on regardless). */
static int start_client = -1;
static long long start_deadline;
static char start_got[16];
static size_t start_len;
static int start_done;

static void start_reply(int client_fd, int code, const char *msg)
{
	char buf[512];
	size_t n = 1;
	buf[0] = (char)code;
	if (msg) {
		int m = snprintf(buf + 1, sizeof buf - 1, "%s", msg);
		n += m < 0 ? 0 : (size_t)m < sizeof buf - 1 ? (size_t)m : sizeof buf - 2;
	}
	/* No drop here (this may run inside a client's processing): a broken client is found
	 * and dropped by the loop's next poll. */
	for (int i = 0; i < n_clients; i++)
		if (clients[i].fd == client_fd)
			(void)client_send(&clients[i], F_START, buf, n);
}

static void start_end(int code, const char *msg)
{
	close(start_fd);
	start_fd = -1;
	if (code == START_OK) {
		start_done = 1;
		unlink(fifo_path);
	}
	start_reply(start_client, code, msg);
	start_client = -1;
}

/* Read what init wrote; ends the start at EOF (or when init is gone without writing). */
static void start_read(void)
{
	for (;;) {
		char b[16];
		ssize_t n = read(start_fd, b, sizeof b);
		if (n > 0) {
			for (ssize_t i = 0; i < n && start_len < sizeof start_got - 1; i++)
				start_got[start_len++] = b[i];
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return; /* init has it open and has not closed it yet: more to come */
		if (n < 0) {
			char msg[128];
			snprintf(msg, sizeof msg, "read exec.fifo: %s", strerror(errno));
			start_end(START_FAILED, msg);
			return;
		}
		/* EOF: no writer. Before init opened its end that is "not yet", unless init is gone. */
		if (start_len == 0) {
			if (init_exited)
				start_end(START_FAILED, "container process is already dead");
			return;
		}
		start_got[start_len] = 0;
		if (start_len == 1 && start_got[0] == '0') {
			start_end(START_OK, NULL);
		} else {
			char msg[128];
			snprintf(msg, sizeof msg, "cannot start a container that is not created (exec.fifo said \"%s\")", start_got);
			start_end(START_FAILED, msg);
		}
		return;
	}
}

static void start_begin(struct client *c)
{
	if (start_fd >= 0 || start_done) {
		start_reply(c->fd, START_FAILED, "cannot start an already running container");
		return;
	}
	/* Non-blocking: the open never waits for a writer, and a read says EAGAIN (writer there,
	 * nothing written yet) or EOF (no writer now). */
	int fd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		start_reply(c->fd, START_NO_FIFO, NULL);
		return;
	}
	start_fd = fd;
	start_client = c->fd;
	start_len = 0;
	start_deadline = now_ms() + START_TIMEOUT_MS;
	start_read();
}

static void close_stdin(void)
{
	if (in_fd < 0)
		return;
	if (opt.terminal) {
		/* A pty has no half-close: send the terminal's EOF character, twice after a partial
		 * line (the first only ends the line), as a user typing ^D would. */
		struct termios t;
		char eof = 4;
		if (tcgetattr(pty_fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
			eof = (char)t.c_cc[VEOF];
		if (!pty_last_nl)
			(void)!write(pty_fd, &eof, 1);
		(void)!write(pty_fd, &eof, 1);
	} else if (opt.stdin_socket) {
		/* Half-close, and keep our end: a closed peer is a hangup, on which QEMU drops the
		 * connection with unread data still queued; a shutdown is an EOF after the data. */
		shutdown(in_fd, SHUT_WR);
		stdin_sock_kept = in_fd;
	} else {
		close(in_fd);
	}
	in_fd = -1;
	for (int i = 0; i < n_clients; i++)
		clients[i].blocked = 0;
}

/* Work through a client's buffered input. Stops (blocked) when the container's stdin is full. */
static void client_process(struct client *c)
{
	size_t pos = 0;
	c->blocked = 0;
	while (pos < c->in_len) {
		if (!c->in_frame) {
			if (c->in_len - pos < FRAME_HDR)
				break;
			const unsigned char *h = c->in + pos;
			c->type = h[0];
			c->remaining = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
			c->in_frame = 1;
			pos += FRAME_HDR;
			if (c->type == F_CLOSE_STDIN)
				close_stdin();
			if (c->type == F_START)
				start_begin(c);
		}
		size_t avail = c->in_len - pos;
		if (c->type == F_STDIN && c->remaining > 0 && avail > 0) {
			size_t n = avail < c->remaining ? avail : c->remaining;
			if (in_fd >= 0) {
				ssize_t w = write(in_fd, c->in + pos, n);
				if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
					c->blocked = 1;
					break;
				}
				if (w < 0) {
					/* The container closed its stdin: later input has nowhere to go. */
					if (!opt.terminal)
						close(in_fd);
					in_fd = -1;
					w = (ssize_t)n;
				}
				if (opt.terminal && w > 0)
					pty_last_nl = c->in[pos + (size_t)w - 1] == '\n' || c->in[pos + (size_t)w - 1] == '\r';
				n = (size_t)w;
			}
			pos += n;
			c->remaining -= (uint32_t)n;
			if (c->remaining > 0) {
				if (pos < c->in_len) {
					c->blocked = 1;
					break;
				}
				continue;
			}
		} else if (c->type == F_RESIZE && c->remaining == 4) {
			if (avail < 4)
				break;
			const unsigned char *p = c->in + pos;
			struct winsize ws = { .ws_row = (unsigned short)(p[0] << 8 | p[1]), .ws_col = (unsigned short)(p[2] << 8 | p[3]) };
			if (pty_fd >= 0)
				ioctl(pty_fd, TIOCSWINSZ, &ws);
			/* QEMU does not pass a host pty's size on; the guest init sets it on its own pty. */
			if (opt.resize_fifo) {
				int rf = open(opt.resize_fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
				if (rf >= 0) {
					dprintf(rf, "winsize %u %u\n", ws.ws_row, ws.ws_col);
					close(rf);
				}
			}
			pos += 4;
			c->remaining = 0;
		} else if (c->type == F_CLAIM_EXIT && c->remaining == 4) {
			if (avail < 4)
				break;
			const unsigned char *p = c->in + pos;
			claimant = (pid_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
			pos += 4;
			c->remaining = 0;
		} else if (c->remaining > 0) {
			/* Unknown frame types are skipped, so newer clients can talk to older monitors. */
			size_t n = avail < c->remaining ? avail : c->remaining;
			pos += n;
			c->remaining -= (uint32_t)n;
			if (c->remaining > 0)
				continue;
		}
		if (c->remaining == 0)
			c->in_frame = 0;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
}

/* Returns -1 when the client has gone (and was dropped). */
static int client_read(struct client *c)
{
	if (c->in_len == CLIENT_IN_CAP)
		return 0;
	ssize_t n = recv(c->fd, c->in + c->in_len, CLIENT_IN_CAP - c->in_len, MSG_DONTWAIT);
	if (n == 0) {
		c->rd_eof = 1;
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	c->in_len += (size_t)n;
	client_process(c);
	return 0;
}

static void open_attach_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(attach_path) >= sizeof sa.sun_path) {
		run_delete();
		remove_own_files();
		sync_errorf("state dir path too long for a unix socket: %s", opt.state_dir);
		exit(1);
	}
	strcpy(sa.sun_path, attach_path);
	unlink(attach_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	mode_t old = umask(0177);
	int ok = listen_fd >= 0 && bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(listen_fd, 16) == 0;
	umask(old);
	if (!ok) {
		int e = errno;
		run_delete();
		remove_own_files();
		sync_errorf("attach socket %s: %s", attach_path, strerror(e));
		exit(1);
	}
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int client_nearly_full(const struct client *c)
{
	return c->out_len > CLIENT_OUT_CAP - (READ_CHUNK + FRAME_HDR);
}

static int any_nearly_full(void)
{
	for (int i = 0; i < n_clients; i++)
		if (client_nearly_full(&clients[i]))
			return 1;
	return 0;
}

/* Drop clients that have taken nothing for STALL_MS while holding output up; returns the ms
 * until the next one would be dropped (-1: nobody holds output up). */
static long long drop_stalled(void)
{
	long long now = now_ms(), next = -1;
	for (int i = n_clients - 1; i >= 0; i--) {
		struct client *c = &clients[i];
		if (!client_nearly_full(c))
			continue;
		long long left = c->progress_ms + STALL_MS - now;
		if (left <= 0) {
			client_drop(c);
			continue;
		}
		if (next < 0 || left < next)
			next = left;
	}
	return next;
}

/* Read once from a container stream; -1 at EOF (a pty master reports EIO once all slaves are gone). */
static int pump(int stream)
{
	ssize_t n = read(out_fd[stream], read_buf, READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		log_flush_partial(stream);
		close(out_fd[stream]);
		if (out_fd[stream] == pty_fd) {
			pty_fd = -1;
			if (in_fd >= 0 && opt.terminal)
				in_fd = -1;
		}
		out_fd[stream] = -1;
		return -1;
	}
	char ts[48];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	rfc3339nano(ts, sizeof ts, &now);
	broadcast(stream == 0 ? F_STDOUT : F_STDERR, read_buf, (size_t)n);
	log_chunk(stream, read_buf, (size_t)n, ts);
	return 0;
}

static void event_loop(void)
{
	struct pollfd pfd[5 + MAX_CLIENTS];
	long long drain_deadline = 0;

	for (;;) {
		long long stall = drop_stalled();
		int paused = stall >= 0;
		/* The drain clock runs only while output could be read: a client holding output up
		 * (bounded by STALL_MS) must not make the monitor give up on the rest. */
		if (init_exited && (!drain_deadline || paused))
			drain_deadline = now_ms() + DRAIN_MS;
		if (init_exited && ((out_fd[0] < 0 && out_fd[1] < 0) || now_ms() >= drain_deadline))
			return;

		int n = 0, any_blocked = 0;
		pfd[n++] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		/* fd -1 while paused: poll would still report POLLHUP on a pipe with events 0. */
		pfd[n++] = (struct pollfd){ .fd = paused ? -1 : out_fd[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = paused ? -1 : out_fd[1], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = start_fd, .events = POLLIN };
		for (int i = 0; i < n_clients; i++) {
			struct client *c = &clients[i];
			short ev = 0;
			if (!c->rd_eof && !c->blocked)
				ev |= POLLIN;
			if (c->out_len > 0)
				ev |= POLLOUT;
			any_blocked |= c->blocked;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		/* The container's stdin is watched only while some client's input waits for it. */
		int in_slot = -1;
		if (any_blocked && in_fd >= 0) {
			in_slot = n;
			pfd[n++] = (struct pollfd){ .fd = in_fd, .events = POLLOUT };
		}

		long long timeout = stall;
		if (start_fd >= 0) {
			long long left = start_deadline - now_ms();
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		if (drain_deadline) {
			long long left = drain_deadline - now_ms();
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		if (poll(pfd, (nfds_t)n, (int)timeout) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}

		if (pfd[0].revents)
			reap(0, NULL);
		/* Before the clients (whose frames may ask for a start), and before output is read: a
		 * workload's exit must not end the loop with its start unanswered. */
		if (start_fd >= 0 && (pfd[4].revents || init_exited))
			start_read();
		if (start_fd >= 0 && now_ms() >= start_deadline)
			start_end(START_FAILED, "the container's init did not start within 10 s");
		if (pfd[1].revents)
			client_accept();
		for (int s = 0; s < 2; s++)
			if (pfd[2 + s].fd >= 0 && pfd[2 + s].revents && out_fd[s] >= 0 && !any_nearly_full()) {
				pump(s);
				if (init_exited)
					drain_deadline = now_ms() + DRAIN_MS;
			}

		/* Clients: walk backwards so a drop (which moves the last entry) skips nobody; only
		 * clients that existed when pfd was built have a slot. */
		int base = 5, polled = n - base - (in_slot >= 0);
		for (int i = polled - 1; i >= 0; i--) {
			if (i >= n_clients)
				continue;
			struct client *c = &clients[i];
			short re = pfd[base + i].revents;
			if (pfd[base + i].fd != c->fd || !re)
				continue;
			if ((re & POLLOUT) && client_flush(c) < 0) {
				client_drop(c);
				continue;
			}
			if ((re & POLLIN) && client_read(c) < 0) {
				client_drop(c);
				continue;
			}
			if ((re & (POLLHUP | POLLERR)) && !(re & POLLIN)) {
				client_drop(c);
				continue;
			}
		}
		if (in_slot >= 0 && pfd[in_slot].revents) {
			if (pfd[in_slot].revents & (POLLERR | POLLHUP)) {
				/* Nobody reads the container's stdin any more. */
				if (!opt.terminal)
					close(in_fd);
				in_fd = -1;
			}
			for (int i = 0; i < n_clients; i++)
				if (clients[i].blocked)
					client_process(&clients[i]);
		}
	}
}

/* ---- the end ----------------------------------------------------------------------------- */

static void write_exit_json(int oom)
{
	char buf[512], ts[48];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	rfc3339nano(ts, sizeof ts, &now);
	int code, len;
	if (WIFSIGNALED(init_status)) {
		code = 128 + WTERMSIG(init_status);
		len = snprintf(buf, sizeof buf, "{\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"finishedAt\":\"%s\"}\n", code,
			       WTERMSIG(init_status), oom ? "true" : "false", ts);
	} else {
		code = WEXITSTATUS(init_status);
		len = snprintf(buf, sizeof buf, "{\"exitCode\":%d,\"signal\":null,\"oomKilled\":%s,\"finishedAt\":\"%s\"}\n", code,
			       oom ? "true" : "false", ts);
	}
	write_file_atomically(exit_path, exit_tmp_path, buf, (size_t)len);
}

/*
 * A container that exits at once can be reaped before `runtime start` has returned: start
 * reads runc's exec.fifo (which lets init exec), and only then removes the fifo. Deleting the
 * container in between makes that remove, and so `runtime start`, fail although the container
 * ran. So wait (bounded) for the fifo to go. It stays only if the container was never started
 * (killed while created), which costs that one case the full wait.
 */
static void wait_start_done(void)
{
	struct stat st;
	long long deadline = now_ms() + START_WAIT_MS;
	while (lstat(fifo_path, &st) == 0 && now_ms() < deadline) {
		struct pollfd p = { .fd = sig_fd, .events = POLLIN };
		/* Keep reaping meanwhile (the container's other processes end as zombies here). */
		if (poll(&p, 1, 10) > 0)
			reap(0, NULL);
	}
}

/*
 * --exit-status-file: the runtime's process is not the workload (the VM runtime's is QEMU), so
 * the status is the last `exit N` or `signal N` line the runtime left in the file. A process
 * killed by a signal keeps that status (the VM was killed); one that ended on its own without a
 * report (the guest panicked or powered itself off) is recorded as 255.
 */
static void apply_exit_status_file(void)
{
	FILE *f = fopen(opt.exit_status_file, "re");
	int found = 0, n;
	char line[128];
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "exit %d", &n) == 1 && n >= 0 && n < 256) {
			init_status = (n & 0xff) << 8;
			found = 1;
		} else if (sscanf(line, "signal %d", &n) == 1 && n > 0 && n < 128) {
			init_status = n;
			found = 1;
		}
	}
	if (f)
		fclose(f);
	if (!found && !WIFSIGNALED(init_status))
		init_status = 255 << 8;
}

/*
 * Whether someone else already records this exit, so the exit command (a whole CLI process,
 * hundreds of ms of CPU) would only find the exit claimed and quit. Someone has claimed it when
 * STATE/exit-handled exists (the engine creates it exclusively), or when the state directory
 * is gone (the container was removed). An attached `hull run` announces with frame 5 that it
 * will claim the exit as soon as it sees EOF; for that claimant this waits, but only while it
 * lives and CLAIM_WAIT_MS at most: a claimant that dies or hangs gets the exit command as before.
 */
static int exit_claimed(void)
{
	long long deadline = now_ms() + CLAIM_WAIT_MS;
	for (;;) {
		if (access(claim_path, F_OK) == 0 || access(opt.state_dir, F_OK) != 0)
			return 1;
		if (claimant <= 0 || (kill(claimant, 0) != 0 && errno == ESRCH) || now_ms() >= deadline)
			return access(claim_path, F_OK) == 0;
		usleep(2000);
	}
}

static void finish(void)
{
	/* Read before `runtime delete` removes the cgroup. A VM's memory is its own: no cgroup OOM. */
	int oom = opt.exit_status_file ? 0 : read_oom_killed();
	if (opt.exit_status_file)
		apply_exit_status_file();

	for (int s = 0; s < 2; s++) {
		if (out_fd[s] >= 0) {
			/* Drain deadline passed with the pipe still open: take what is buffered. */
			while (pump(s) == 0) {
				struct pollfd p = { .fd = out_fd[s], .events = POLLIN };
				if (poll(&p, 1, 0) <= 0)
					break;
			}
			log_flush_partial(s);
		}
	}
	if (log_fd >= 0)
		close(log_fd);

	/* exit.json before the clients' EOF, so a client that sees EOF finds the exit recorded. */
	write_exit_json(oom);

	long long deadline = now_ms() + FLUSH_MS;
	for (int i = 0; i < n_clients; i++) {
		struct client *c = &clients[i];
		while (c->out_len > 0 && now_ms() < deadline) {
			if (client_flush(c) < 0)
				break;
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			poll(&p, 1, (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0));
		}
	}
	while (n_clients > 0)
		client_drop(&clients[0]);
	if (listen_fd >= 0)
		close(listen_fd);
	/* Gone before the exit command runs, so it sees the final state (and may remove the dir). */
	unlink(attach_path);
	if (in_fd >= 0 && !opt.terminal)
		close(in_fd);

	wait_start_done();
	run_delete();
	unlink(pid_path);

	if (opt.exit_command && !exit_claimed()) {
		char **argv = calloc((size_t)opt.n_exit_args + 2, sizeof *argv);
		if (argv) {
			argv[0] = opt.exit_command;
			for (int i = 0; i < opt.n_exit_args; i++)
				argv[i + 1] = opt.exit_args[i];
			/* Not waited for: the exit command may outlive us (it is reparented to init). */
			spawn(argv, -1, -1, -1);
		}
	}
	exit(0);
}

/* CPU of `runtime create` and the processes it waited for (its init's own CPU is not in it:
 * init is still running, and is not the runtime's to wait for). */
static double runtime_cpu_ms(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
		return -1;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* CPU the container's init has used so far: the runtime's setup inside the container (mounts,
 * seccomp compilation) happens in that process, before it waits to exec the workload. */
static double init_cpu_ms(void)
{
	clockid_t clk;
	struct timespec ts;
	if (clock_getcpuclockid(init_pid, &clk) != 0 || clock_gettime(clk, &ts) != 0)
		return -1;
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- main -------------------------------------------------------------------------------- */

/*
 * `hull-monitor --args-fd N`: a monitor started ahead of need (by an idle CLI worker, or by
 * `hull serve` after each start), so that no fork+exec of the caller is on a container's start
 * path (measured: Node's spawn of the monitor held its thread 6-22 ms under load, for ~2 ms of
 * CPU). It blocks reading its real command line from fd N: a decimal byte count and a newline,
 * then that many bytes: NUL-terminated arguments, an empty one, then NUL-terminated environment
 * entries that replace its own (the caller's environment at the time of use, not at the time of
 * the spawn). Counted rather than ended by EOF: the caller's close of the pipe waits for its
 * event loop, which is busy starting the container. EOF before a whole block: the caller ended
 * without needing it; exit 0 without doing anything.
 */
static int read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Set by args_from_fd when this process took its command line in place: it was spawned
 * detached for the purpose (its own session), so it need not daemonize again. */
static int prespawned;

/* Make `av`/`ev` this process's argv and environment, as after an exec with them. */
static void adopt(char **av, int ac, char **ev, int ec, int *argc, char ***argv)
{
	clearenv();
	for (int e = 0; e < ec; e++)
		putenv(ev[e]);
	*argc = ac;
	*argv = av;
}

/*
 * /proc/self/cmdline and environ pointed at a copy of `av` and `ev` (PR_SET_MM_MAP, allowed
 * without privileges when the executable stays; every other field of the map is the current
 * one, from /proc/self/stat), and the process's argv and environment made that copy's strings,
 * as after an exec with them. 0, or -1 with nothing changed.
 */
static int set_cmdline(char **av, int ac, char **ev, int ec, int *argc, char ***argv)
{
	char stat[2048];
	int sfd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t got = sfd < 0 ? -1 : read(sfd, stat, sizeof stat - 1);
	if (sfd >= 0)
		close(sfd);
	if (got <= 0)
		return -1;
	stat[got] = 0;
	/* Fields 3 on follow the last ')' (comm may hold anything); field 3 is the state letter. */
	char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	p += 3;
	unsigned long long f[53] = { 0 };
	for (int k = 4; k <= 51; k++) {
		char *end;
		f[k] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	size_t args_len = 0, len = 0;
	for (int i = 0; i < ac; i++)
		args_len += strlen(av[i]) + 1;
	len = args_len;
	for (int i = 0; i < ec; i++)
		len += strlen(ev[i]) + 1;
	char *buf = malloc(len + 1);
	char **nav = calloc((size_t)ac + 1, sizeof *nav), **nev = calloc((size_t)ec + 1, sizeof *nev);
	if (!buf || !nav || !nev)
		goto fail;
	char *w = buf;
	for (int i = 0; i < ac; i++) {
		nav[i] = w;
		w = stpcpy(w, av[i]) + 1;
	}
	for (int i = 0; i < ec; i++) {
		nev[i] = w;
		w = stpcpy(w, ev[i]) + 1;
	}
	struct prctl_mm_map m = {
		.start_code = f[26], .end_code = f[27], .start_stack = f[28],
		.start_data = f[45], .end_data = f[46], .start_brk = f[47], .brk = (uintptr_t)sbrk(0),
		.arg_start = (uintptr_t)buf, .arg_end = (uintptr_t)buf + args_len,
		.env_start = (uintptr_t)buf + args_len, .env_end = (uintptr_t)buf + len,
		.auxv = NULL, .auxv_size = 0, .exe_fd = (uint32_t)-1,
	};
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof m, 0) != 0)
		goto fail;
	adopt(nav, ac, nev, ec, argc, argv);
	return 0;
fail:
	free(buf);
	free(nav);
	free(nev);
	return -1;
}

static void args_from_fd(int fd, int *argc, char ***argv)
{
	char head[24];
	size_t h = 0;
	/* Byte by byte up to the newline: nothing of the block may be read into the header. */
	while (h < sizeof head - 1 && read_full(fd, head + h, 1) == 0 && head[h] != '\n')
		h++;
	if (h == 0 || h == sizeof head - 1 || head[h] != '\n')
		_exit(0);
	head[h] = 0;
	size_t len = strtoul(head, NULL, 10);
	char *buf = len > 0 && len < (64u << 20) ? malloc(len) : NULL;
	if (!buf || read_full(fd, buf, len) < 0 || buf[len - 1] != 0)
		_exit(0);
	close(fd);
	char **av = calloc(len + 2, sizeof *av), **ev = calloc(len + 1, sizeof *ev);
	if (!av || !ev)
		_exit(2);
	int ac = 0, ec = 0;
	av[ac++] = (*argv)[0];
	size_t i = 0;
	while (i < len && buf[i] != 0) {
		av[ac++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	for (i++ /* the empty entry */; i < len; i += strlen(buf + i) + 1)
		ev[ec++] = buf + i;
	/* The real command line is how the engine finds a container's monitor (killStaleMonitors,
	 * the benches: /proc/PID/cmdline names the container and its root). Pointed at it in place;
	 * an exec of this binary (the dynamic loader, libc's relocations, a second start) only
	 * where the kernel refuses. */
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (set_cmdline(av, ac, ev, ec, argc, argv) == 0) {
		prespawned = 1;
		return;
	}
	execve("/proc/self/exe", av, ev);
	/* No exec (no /proc): carry on in this image, under the old command line. */
	adopt(av, ac, ev, ec, argc, argv);
}

static long long parse_num(const char *name, const char *v)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || *end || end == v || n < 0)
		usage_fail("--%s: not a number: %s", name, v);
	return n;
}

static unsigned long long parse_hex(const char *what, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 16);
	if (errno || *end || end == s)
		usage_fail("--%s: not a hexadecimal mask: %s", what, s);
	return v;
}

/* --look-path-user UID:GID[:GID,GID...] */
static void parse_look_user(const char *s)
{
	char *end;
	unsigned *groups = calloc(strlen(s) / 2 + 1, sizeof *groups);
	opt.look_creds.uid = (unsigned)strtoul(s, &end, 10);
	if (*end != ':' || !groups)
		usage_fail("--look-path-user: UID:GID[:GROUPS] expected: %s", s);
	opt.look_creds.gid = (unsigned)strtoul(end + 1, &end, 10);
	int n = 0;
	if (*end == ':')
		do
			groups[n++] = (unsigned)strtoul(end + 1, &end, 10);
		while (*end == ',');
	if (*end)
		usage_fail("--look-path-user: UID:GID[:GROUPS] expected: %s", s);
	opt.look_creds.groups = groups;
	opt.look_creds.n_groups = n;
	opt.look_user_set = 1;
}

int main(int argc, char **argv)
{
	enum { OPT_ID = 1, OPT_BUNDLE, OPT_RUNTIME, OPT_ROOT, OPT_STATE, OPT_SYNC, OPT_TERM, OPT_STDIN, OPT_LOG, OPT_LOGSIZE, OPT_LOGFILES, OPT_EXITCMD, OPT_EXITARG, OPT_TIMEOUT, OPT_EXITFILE, OPT_STDINSOCK, OPT_RESIZEFIFO, OPT_HELPER, OPT_FILTER, OPT_CAPTURE, OPT_LOOKPATH, OPT_LOOKCWD, OPT_LOOKENV, OPT_LOOKUSER, OPT_LOOKCAPS };
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, OPT_ID },
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "runtime-root", required_argument, NULL, OPT_ROOT },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "sync-fd", required_argument, NULL, OPT_SYNC },
		{ "terminal", no_argument, NULL, OPT_TERM },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		{ "log-path", required_argument, NULL, OPT_LOG },
		{ "log-max-size", required_argument, NULL, OPT_LOGSIZE },
		{ "log-max-files", required_argument, NULL, OPT_LOGFILES },
		{ "exit-command", required_argument, NULL, OPT_EXITCMD },
		{ "exit-arg", required_argument, NULL, OPT_EXITARG },
		{ "timeout-create", required_argument, NULL, OPT_TIMEOUT },
		{ "exit-status-file", required_argument, NULL, OPT_EXITFILE },
		{ "stdin-socket", no_argument, NULL, OPT_STDINSOCK },
		{ "resize-fifo", required_argument, NULL, OPT_RESIZEFIFO },
		{ "seccomp-helper", required_argument, NULL, OPT_HELPER },
		{ "seccomp-filter", required_argument, NULL, OPT_FILTER },
		{ "seccomp-capture", required_argument, NULL, OPT_CAPTURE },
		{ "look-path", required_argument, NULL, OPT_LOOKPATH },
		{ "look-path-cwd", required_argument, NULL, OPT_LOOKCWD },
		{ "look-path-env", required_argument, NULL, OPT_LOOKENV },
		{ "look-path-user", required_argument, NULL, OPT_LOOKUSER },
		{ "look-path-caps", required_argument, NULL, OPT_LOOKCAPS },
		{ NULL, 0, NULL, 0 },
	};
	if (argc == 3 && strcmp(argv[1], "--args-fd") == 0)
		args_from_fd(atoi(argv[2]), &argc, &argv);
	/* Exec'd through /proc/self/exe (args_from_fd) the kernel names the process "exe": the
	 * engine tells a live monitor by this name (isMonitorAlive). */
	prctl(PR_SET_NAME, "hull-monitor");
	t_us.start = epoch_us();
	opt.exit_args = calloc((size_t)argc, sizeof *opt.exit_args);
	/* The sync fd first, so that every later usage error can be reported on it. */
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--sync-fd") == 0) {
			char *end;
			long fd = strtol(argv[i + 1], &end, 10);
			if (*end == 0 && fd > 2 && fd < INT_MAX && fcntl((int)fd, F_SETFD, FD_CLOEXEC) == 0)
				opt.sync_fd = (int)fd;
		}
	/* Nothing the caller left open may live as long as the container (a pipe someone waits on
	 * for EOF, a CLI worker's sockets): only stdio and the sync fd stay. */
	if (opt.sync_fd > 3)
		close_range(3, (unsigned)opt.sync_fd - 1, 0);
	close_range(opt.sync_fd >= 3 ? (unsigned)opt.sync_fd + 1 : 3, ~0U, 0);
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ID: opt.id = optarg; break;
		case OPT_BUNDLE: opt.bundle = absolute(optarg); break;
		case OPT_RUNTIME: opt.runtime = strchr(optarg, '/') ? absolute(optarg) : optarg; break;
		case OPT_ROOT: opt.runtime_root = absolute(optarg); break;
		case OPT_STATE: opt.state_dir = absolute(optarg); break;
		case OPT_SYNC: break;
		case OPT_TERM: opt.terminal = 1; break;
		case OPT_STDIN: opt.want_stdin = 1; break;
		case OPT_LOG: opt.log_path = absolute(optarg); break;
		case OPT_LOGSIZE: opt.log_max_size = parse_num("log-max-size", optarg); break;
		case OPT_LOGFILES: opt.log_max_files = (int)parse_num("log-max-files", optarg); break;
		case OPT_EXITCMD: opt.exit_command = strchr(optarg, '/') ? absolute(optarg) : optarg; break;
		case OPT_EXITARG: opt.exit_args[opt.n_exit_args++] = optarg; break;
		case OPT_TIMEOUT: opt.timeout_create = (long)parse_num("timeout-create", optarg); break;
		case OPT_EXITFILE: opt.exit_status_file = absolute(optarg); break;
		case OPT_STDINSOCK: opt.stdin_socket = 1; break;
		case OPT_RESIZEFIFO: opt.resize_fifo = absolute(optarg); break;
		case OPT_HELPER: opt.seccomp_helper = absolute(optarg); break;
		case OPT_FILTER: opt.seccomp_filter = absolute(optarg); break;
		case OPT_CAPTURE: opt.seccomp_capture = absolute(optarg); break;
		case OPT_LOOKPATH: opt.look_path = optarg; break;
		case OPT_LOOKCWD: opt.look_cwd = optarg; break;
		case OPT_LOOKENV: opt.look_env = optarg; break;
		case OPT_LOOKUSER: parse_look_user(optarg); break;
		case OPT_LOOKCAPS: opt.look_creds.caps = parse_hex("look-path-caps", optarg); break;
		default: usage_fail("unknown or incomplete option: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_fail("unexpected argument: %s", argv[optind]);
	if (opt.sync_fd < 0)
		usage_fail("--sync-fd: an open file descriptor above 2 is required");
	if (!opt.id || !opt.id[0] || !opt.bundle || !opt.runtime || !opt.runtime_root || !opt.state_dir)
		usage_fail("--id, --bundle, --runtime, --runtime-root and --state-dir are required");
	if (!opt.seccomp_helper != !opt.seccomp_filter)
		usage_fail("--seccomp-helper and --seccomp-filter go together");
	if (opt.look_path && !opt.look_user_set)
		usage_fail("--look-path needs --look-path-user");
	if (opt.log_max_files < 1)
		opt.log_max_files = 1;
	if (path_join(&pid_path, opt.state_dir, "pid") || path_join(&attach_path, opt.state_dir, "attach") ||
	    path_join(&console_path, opt.state_dir, "console.sock") || path_join(&exit_path, opt.state_dir, "exit.json") ||
	    path_join(&exit_tmp_path, opt.state_dir, ".exit.json.tmp") ||
	    path_join(&runtime_log_path, opt.state_dir, "runtime.log") || path_join(&claim_path, opt.state_dir, "exit-handled") ||
	    asprintf(&fifo_path, "%s/%s/exec.fifo", opt.runtime_root, opt.id) < 0)
		usage_fail("out of memory");

	/* Daemonize: the caller (the CLI) may exit as soon as it has read the sync line. A
	 * prespawned monitor was spawned detached (a session of its own) and outlives its spawner
	 * as it is: no second process. */
	if (!prespawned) {
		pid_t p = fork();
		if (p < 0)
			usage_fail("fork: %s", strerror(errno));
		if (p > 0)
			_exit(0);
		setsid();
	}
	if (chdir("/") < 0) {
	}
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	/* As subreaper, the container's init becomes our child when `runtime create` exits. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		sync_errorf("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
		exit(1);
	}
	signal(SIGPIPE, SIG_IGN);
	/* Containers are stopped with `runtime kill`; a signal to the monitor must not orphan
	 * the container's stdio, so the monitor ends only after its container. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		sync_errorf("signalfd: %s", strerror(errno));
		exit(1);
	}

	create_container();
	open_attach_socket();
	if (opt.log_path)
		log_open();

	char line[384];
	long long report = epoch_us();
	snprintf(line, sizeof line,
		 "{\"pid\":%d,\"monitorPid\":%d,\"times\":{\"start\":%lld,\"create\":%lld,\"created\":%lld,\"report\":%lld,"
		 "\"runtimeCpuMs\":%.1f,\"initCpuMs\":%.1f}}\n",
		 (int)init_pid, (int)getpid(), t_us.start, t_us.create, t_us.created, report, runtime_cpu_ms(), init_cpu_ms());
	sync_write(line);

	event_loop();
	finish();
	return 0;
}
