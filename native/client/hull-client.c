/*
 * hull-client: the `hull` on PATH. Node needs ~100 ms to start and hull's modules another
 * ~100 ms, on every command; this client instead hands the command to a warm worker (a node
 * process that has already loaded hull, src/cli/server/worker.ts) kept ready by a per-install
 * supervisor (src/cli/server/supervisor.ts). It sends argv, environment, cwd and its fds
 * 0/1/2 (SCM_RIGHTS), forwards the signals it gets to the worker, and exits with the worker's
 * status (or dies of the same signal). The wire format is in src/cli/server/protocol.ts.
 *
 * Whenever the server cannot serve (HULL_NO_SERVER=1, NODE_OPTIONS set, no socket, no worker
 * ready, old build, not root) it execs `node -- dist/src/cli/main.js ARGS` exactly as the
 * plain `hull` did, and when nothing listened it starts the supervisor in the background for
 * the next command. It never waits for a worker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* A live supervisor answers at once; this only bounds a hung or overloaded one. */
#define ANSWER_TIMEOUT_MS 2000
#define DEFAULT_SOCKET_DIR "/run/hull"

extern char **environ;

static char root[PATH_MAX];
static volatile sig_atomic_t worker_pid;
static struct termios saved_tty;
static int tty_saved;
static int saved_fl[3];

static void die(const char *msg)
{
	fprintf(stderr, "hull: %s: %s\n", msg, strerror(errno));
	exit(125);
}

/* The package root: this binary is ROOT/build/hull-client (PATH has a symlink to it). */
static void find_root(void)
{
	if (!realpath("/proc/self/exe", root)) die("cannot resolve /proc/self/exe");
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(root, '/');
		if (!slash || slash == root) {
			errno = ENOENT;
			die("cannot find hull's package root");
		}
		*slash = 0;
	}
}

/* HULL_CLIENT_TRACE=FILE: one line per command saying how it ran (for tests and debugging). */
static void trace(const char *how, long detail)
{
	const char *path = getenv("HULL_CLIENT_TRACE");
	if (!path || !*path) return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) return;
	dprintf(fd, "%s %ld\n", how, detail);
	close(fd);
}

static void exec_node(int argc, char **argv)
{
	char main_js[PATH_MAX + 32];
	snprintf(main_js, sizeof main_js, "%s/dist/src/cli/main.js", root);
	char **args = calloc((size_t)argc + 3, sizeof *args);
	if (!args) die("out of memory");
	args[0] = "node";
	/* `--`: Node 20 reads --env-file anywhere in its argv (see cli/main.ts). */
	args[1] = "--";
	args[2] = main_js;
	for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
	execvp("node", args);
	die("cannot run node");
}

/* FNV-1a: one socket per installation (tests and worktrees each have their own build). */
static void default_socket(char *out, size_t n)
{
	uint32_t h = 2166136261u;
	for (const char *p = root; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, n, "%s/cli-%08x.sock", DEFAULT_SOCKET_DIR, h);
}

/* Starts the supervisor detached (own session, stdio on /dev/null and a log) and returns at once. */
static void start_supervisor(const char *sock)
{
	pid_t pid = fork();
	if (pid < 0) return;
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
		return;
	}
	setsid();
	if (fork() != 0) _exit(0);
	char script[PATH_MAX + 64], logp[PATH_MAX + 8];
	snprintf(script, sizeof script, "%s/dist/src/cli/server/supervisor.js", root);
	snprintf(logp, sizeof logp, "%s.log", sock);
	int null = open("/dev/null", O_RDWR);
	int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (null < 0) _exit(1);
	dup2(null, 0);
	dup2(null, 1);
	dup2(logfd >= 0 ? logfd : null, 2);
	for (int fd = 3; fd < 64; fd++) close(fd);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execlp("node", "node", "--", script, sock, (char *)NULL);
	_exit(127);
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) return -1;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads one '\n'-terminated line (at most n-1 bytes); 0 on success, -1 on EOF/error/timeout. */
static int read_line(int fd, char *buf, size_t n, int timeout_ms)
{
	size_t len = 0;
	while (len + 1 < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		ssize_t k = read(fd, buf + len, 1);
		if (k < 0 && errno == EINTR) continue;
		if (k <= 0) return -1;
		if (buf[len] == '\n') {
			buf[len] = 0;
			return 0;
		}
		len++;
	}
	return -1;
}

/* Appends s and its NUL to the growing request buffer. */
static void put(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;
	while (*len + n > *cap) {
		*cap = *cap ? *cap * 2 : 65536;
		*buf = realloc(*buf, *cap);
		if (!*buf) die("out of memory");
	}
	memcpy(*buf + *len, s, n);
	*len += n;
}

static int send_request(int fd, int argc, char **argv)
{
	char num[32], cwd[PATH_MAX];
	size_t len = 4, cap = 65536; /* the first 4 bytes: the length prefix, filled in below */
	char *buf = malloc(cap);
	if (!buf) die("out of memory");
	snprintf(num, sizeof num, "%d", argc - 1);
	put(&buf, &len, &cap, num);
	for (int i = 1; i < argc; i++) put(&buf, &len, &cap, argv[i]);
	int envc = 0;
	for (char **e = environ; *e; e++) envc++;
	snprintf(num, sizeof num, "%d", envc);
	put(&buf, &len, &cap, num);
	for (char **e = environ; *e; e++) put(&buf, &len, &cap, *e);
	put(&buf, &len, &cap, getcwd(cwd, sizeof cwd) ? cwd : "/");
	uint32_t payload = (uint32_t)(len - 4);
	for (int i = 0; i < 4; i++) buf[i] = (char)((payload >> (8 * i)) & 0xff);

	int fds[3] = { 0, 1, 2 };
	union {
		char b[CMSG_SPACE(sizeof fds)];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	size_t sent = 0;
	while (sent < len) {
		struct iovec iov = { buf + sent, len - sent };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (sent == 0) {
			msg.msg_control = u.b;
			msg.msg_controllen = sizeof u.b;
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof fds);
			memcpy(CMSG_DATA(c), fds, sizeof fds);
		}
		ssize_t k = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR) continue;
		if (k < 0) {
			free(buf);
			return -1;
		}
		sent += (size_t)k;
	}
	free(buf);
	return 0;
}

static void forward(int sig)
{
	int e = errno;
	/* The worker's process group is orphaned (the supervisor's session), where the kernel
	 * discards SIGTSTP; SIGSTOP stops it as ctrl-z stopped plain node. */
	if (worker_pid > 0) kill(worker_pid, sig == SIGTSTP ? SIGSTOP : sig);
	if (sig == SIGTSTP) {
		/* Stop ourselves too, so the shell sees the job stopped; SIGCONT resumes both. The
		 * signal is blocked inside its own handler: unblock it, or raise() would only queue it
		 * for when the handler (reinstalled by then) returns, and loop. */
		signal(SIGTSTP, SIG_DFL);
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGTSTP);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(SIGTSTP);
		signal(SIGTSTP, forward);
	}
	errno = e;
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP, SIGALRM };

static void install_forwarding(void)
{
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
}

/* The worker may die in raw mode or leave O_NONBLOCK set; plain node restores both at exit. */
static void save_stdio(void)
{
	for (int i = 0; i < 3; i++) saved_fl[i] = fcntl(i, F_GETFL);
	tty_saved = isatty(0) && tcgetattr(0, &saved_tty) == 0;
}

static void restore_stdio(void)
{
	for (int i = 0; i < 3; i++) {
		int now = fcntl(i, F_GETFL);
		if (saved_fl[i] >= 0 && now >= 0 && (now & O_NONBLOCK) != (saved_fl[i] & O_NONBLOCK)) fcntl(i, F_SETFL, saved_fl[i]);
	}
	if (tty_saved && tcgetpgrp(0) == getpgrp()) {
		struct termios now;
		if (tcgetattr(0, &now) == 0 && memcmp(&now, &saved_tty, sizeof now) != 0) tcsetattr(0, TCSADRAIN, &saved_tty);
	}
}

/* HULL_TRACE: the command's origin for src/util/trace.ts, so the hand-over to node shows. */
static void trace_origin(void)
{
	const char *t = getenv("HULL_TRACE");
	if (!t || !*t || strcmp(t, "0") == 0) return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char us[32];
	snprintf(us, sizeof us, "%lld", (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
	setenv("HULL_TRACE_T0", us, 1);
}

int main(int argc, char **argv)
{
	trace_origin();
	find_root();
	const char *no = getenv("HULL_NO_SERVER");
	const char *node_opts = getenv("NODE_OPTIONS");
	/* A warm worker cannot honour the caller's NODE_OPTIONS, and only root's commands are served. */
	if ((no && *no && strcmp(no, "0") != 0) || (node_opts && *node_opts) || geteuid() != 0) {
		trace("node-disabled", 0);
		exec_node(argc, argv);
	}
	for (int i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) < 0) { /* a closed stdio fd cannot be passed on */
			trace("node-closed-fd", i);
			exec_node(argc, argv);
		}
	}
	char sock[PATH_MAX];
	const char *env_sock = getenv("HULL_CLI_SOCKET");
	if (env_sock && *env_sock) snprintf(sock, sizeof sock, "%s", env_sock);
	else default_socket(sock, sizeof sock);

	int fd = connect_socket(sock);
	if (fd < 0) {
		trace("node-no-server", 0);
		start_supervisor(sock);
		exec_node(argc, argv);
	}
	char line[64] = { 0 };
	if (read_line(fd, line, sizeof line, ANSWER_TIMEOUT_MS) != 0 || line[0] != 'P') {
		close(fd);
		trace(strcmp(line, "X") == 0 ? "node-stale-server" : strcmp(line, "F") == 0 ? "node-no-worker" : "node-no-answer", 0);
		if (strcmp(line, "X") == 0) start_supervisor(sock);
		exec_node(argc, argv);
	}
	/* Handlers first, pid second: a signal in between is forwarded as soon as the pid is known. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	install_forwarding();
	worker_pid = (pid_t)atoi(line + 2);
	sigprocmask(SIG_SETMASK, &old, NULL);
	trace("worker", (long)worker_pid);
	save_stdio();
	if (send_request(fd, argc, argv) != 0) {
		/* The worker died before reading; its status line tells how. */
	}
	int status_ok = read_line(fd, line, sizeof line, -1) == 0;
	restore_stdio();
	if (status_ok && line[0] == 'E') exit(atoi(line + 2));
	if (status_ok && line[0] == 'S') {
		int sig = atoi(line + 2);
		signal(sig, SIG_DFL);
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(sig);
		exit(128 + sig);
	}
	fprintf(stderr, "hull: lost the connection to hull's CLI server (worker %d)\n", (int)worker_pid);
	exit(125);
}
