/*
 * hull-vm-runtime: the command the monitor and the engine run as a VM's OCI runtime
 * (docs/ARCHITECTURE.md, "Virtual machines"). It does the verbs that are a few file operations
 * itself — `start`, `state`, `kill`, `delete` — and execs the node runtime
 * (dist/src/vm/runtime-main.js, same arguments) for the rest: `create` (QEMU's command line, the
 * guest config, the network), `exec`, `update`, `top`, `pause`, `resume`, `ps`, and the
 * messages that need the TypeScript side (a boot failure's diagnosis, an unknown signal name).
 *
 * Why: each node start costs ~130 ms of CPU on this host (`node -e 0`), and a VM ran the node
 * runtime three times. `start` ran while the guest boots (competing with QEMU's vCPU for the
 * cores) and `delete` after QEMU exited, before the monitor could finish (`run --rm` waits for
 * it). The semantics are runtime-main.ts's, verb for verb; the files are the ones it writes.
 *
 *   hull-vm-runtime --root DIR [--log F --log-format json] VERB [ARGS]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

/* File names in the VM directory: src/vm/qemu.ts VM_FILES (and cgroups.json from runtime-main.ts). */
#define QEMU_PID "qemu.pid"
#define VIRTIOFSD_PID "virtiofsd.pid"
#define VIRTIOFSD_PID_SUFFIX ".virtiofsd.pid"
#define VIRTIOFS_SOCK "vfsd.sock"
#define CTL_IN "ctl.in"
#define CTL_OUT "ctl.out"
#define CREATED "exec.fifo"
#define PAUSED "paused"
#define CGROUPS "cgroups.json"
#define VM_JSON "vm.json"
#define QEMU_LOG "qemu.log"

/* runtime-main.ts: how long delete waits for SIGKILLed processes; kill's grace for a guest. */
#define DELETE_WAIT_MS 20000
#define KILL_WAIT_MS 5000
/* DEFAULT_BOOT_TIMEOUT_SECONDS in src/vm/qemu.ts, for a vm.json without the field. */
#define DEFAULT_BOOT_TIMEOUT_S 90

static const char *root, *id;

/* Everything this front does not do itself: the node runtime, with the very same arguments. */
static __attribute__((noreturn)) void to_node(char **argv)
{
	char self[PATH_MAX], script[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		fprintf(stderr, "hull-vm-runtime: /proc/self/exe: %s\n", strerror(errno));
		exit(1);
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	/* build/hull-vm-runtime → dist/src/vm/runtime-main.js (executable, `#!/usr/bin/env node`). */
	snprintf(script, sizeof script, "%s/../dist/src/vm/runtime-main.js", self);
	argv[0] = script;
	execv(script, argv);
	fprintf(stderr, "hull-vm-runtime: exec %s: %s\n", script, strerror(errno));
	exit(1);
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		die("out of memory");
	return p;
}

/* The whole (small) file, NUL-terminated; NULL when it cannot be read. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			die("out of memory");
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

/* proc.ts readPid: the pid in the file, 0 when there is none. */
static pid_t read_pid(const char *path)
{
	char *s = slurp(path);
	if (!s)
		return 0;
	char *end;
	long n = strtol(s, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	pid_t pid = (end != s && *end == 0 && n > 0 && n <= INT_MAX) ? (pid_t)n : 0;
	free(s);
	return pid;
}

/* proc.ts aliveAs: `pid` runs (not a zombie) and its command name starts with `comm`. Pids are
 * reused: a pid file alone must never make hull kill a stranger. */
static int alive_as(pid_t pid, const char *comm)
{
	if (pid <= 0)
		return 0;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	char *stat = slurp(path);
	if (!stat)
		return 0;
	char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
	int ok = 0;
	if (open_paren && close_paren && close_paren > open_paren && close_paren[1] == ' ') {
		size_t want = strlen(comm) < 15 ? strlen(comm) : 15;
		char st = close_paren[2];
		ok = (size_t)(close_paren - open_paren - 1) >= want && strncmp(open_paren + 1, comm, want) == 0 && st != 'Z' && st != 'X';
	}
	free(stat);
	return ok;
}

/* Writes `line` to the VM's ctl.in FIFO without blocking (QEMU holds it open read-write). */
static void ctl_send(const char *dir, const char *line)
{
	char *fifo = path_in(dir, CTL_IN);
	int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", fifo, strerror(errno));
	size_t len = strlen(line);
	ssize_t w = write(fd, line, len);
	if (w != (ssize_t)len)
		die("write %s: %s", fifo, w < 0 ? strerror(errno) : "short write");
	close(fd);
	free(fifo);
}

/* proc.ts readCtl, the part start needs: has the guest reported `started`, `error …` or its end? */
static int ctl_reported(const char *ctl_out)
{
	char *text = slurp(ctl_out);
	if (!text)
		return 0;
	int found = 0;
	for (char *line = text; line && *line && !found;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		unsigned n;
		char c;
		found = strcmp(line, "started") == 0 || strncmp(line, "error ", 6) == 0 ||
			(sscanf(line, "exit %u%c", &n, &c) == 1 && line[5] >= '0' && line[5] <= '9') ||
			(sscanf(line, "signal %u%c", &n, &c) == 1 && line[7] >= '0' && line[7] <= '9');
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return found;
}

/* vm.json's bootTimeoutSeconds (JSON.stringify of VmSettings: `"bootTimeoutSeconds":N`). */
static long boot_timeout_s(const char *dir)
{
	char *p = path_in(dir, VM_JSON), *json = slurp(p);
	free(p);
	long s = DEFAULT_BOOT_TIMEOUT_S;
	const char *key = json ? strstr(json, "\"bootTimeoutSeconds\":") : NULL;
	if (key) {
		long v = strtol(key + strlen("\"bootTimeoutSeconds\":"), NULL, 10);
		if (v > 0)
			s = v;
	}
	free(json);
	return s;
}

/* The last (up to) 5 lines of a file, trimmed, joined with "; " (NULL: unreadable or empty). */
static char *tail_lines(const char *path)
{
	char *text = path ? slurp(path) : NULL;
	if (!text)
		return NULL;
	char *start = text, *end = text + strlen(text);
	while (*start && strchr(" \t\r\n", *start))
		start++;
	while (end > start && strchr(" \t\r\n", end[-1]))
		end--;
	*end = 0;
	if (!*start) {
		free(text);
		return NULL;
	}
	char *from = end;
	for (int lines = 0; from > start; from--)
		if (from[-1] == '\n' && ++lines == 5)
			break;
	char *out = malloc(strlen(from) * 2 + 1), *o = out;
	if (!out)
		die("out of memory");
	for (char *c = from; *c; c++) {
		if (*c == '\n') {
			*o++ = ';';
			*o++ = ' ';
		} else {
			*o++ = *c;
		}
	}
	*o = 0;
	free(text);
	return out;
}

/* A string field of vm.json (JSON.stringify's output: "key":"value", with \" and \\ escapes). */
static char *json_string(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = json ? strstr(json, pat) : NULL;
	if (!p)
		return NULL;
	p += strlen(pat);
	char *out = malloc(strlen(p) + 1), *o = out;
	if (!out)
		die("out of memory");
	for (; *p && *p != '"'; p++)
		*o++ = (*p == '\\' && p[1]) ? *++p : *p;
	*o = 0;
	return out;
}

/*
 * Why a boot failed, with where it stopped: the guest init's last stage on hull.ctl (none: the
 * kernel never got the control port up), how long QEMU had run, and the console's last lines
 * (kernel warnings, panics and the init's stage lines: the kernel runs with loglevel=5). Read at
 * once: the monitor deletes the VM directory as soon as QEMU is gone.
 */
static __attribute__((noreturn)) void boot_failure(const char *dir, long timeout_s, int timed_out)
{
	char *ctl = slurp(path_in(dir, CTL_OUT)), *stage = NULL;
	for (char *line = ctl; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strncmp(line, "stage ", 6) == 0)
			stage = line + 6;
		line = nl ? nl + 1 : NULL;
	}
	char ran[64] = "";
	struct stat st;
	if (stat(path_in(dir, QEMU_PID), &st) == 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		double secs = (double)(now.tv_sec - st.st_mtim.tv_sec) + (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
		snprintf(ran, sizeof ran, ", %ld s after QEMU started", (long)(secs + 0.5));
	}
	char *console = tail_lines(json_string(slurp(path_in(dir, VM_JSON)), "consoleLog"));
	char *qemu_log = tail_lines(path_in(dir, QEMU_LOG));
	if (timed_out)
		fprintf(stderr, "the VM did not boot within %ld s", timeout_s);
	else
		fprintf(stderr, "the VM powered off while booting (kernel panic?)");
	if (stage)
		fprintf(stderr, " (the guest init's last stage: %s%s)", stage, ran);
	else
		fprintf(stderr, " (the guest init never opened its control port%s)", ran);
	fprintf(stderr, "; console: %s; QEMU: %s\n", console ? console : "empty (the kernel printed no warning and never reached the init)",
		qemu_log ? qemu_log : "no message");
	exit(1);
}

/*
 * `start ID`: the guest booted from `create` on and waits for a `start` line on hull.ctl. Started
 * means the workload runs (Docker's start returns then), or the guest said why it could not
 * (`error`), or it already ended. A guest that hangs or dies before that is a start failure, with
 * the console's last lines as the reason.
 */
static int do_start(const char *dir)
{
	pid_t qemu = read_pid(path_in(dir, QEMU_PID));
	long timeout_ms = boot_timeout_s(dir) * 1000;
	ctl_send(dir, "start\n");
	char *created = path_in(dir, CREATED);
	if (unlink(created) < 0 && errno != ENOENT)
		die("remove %s: %s", created, strerror(errno));
	/* QEMU appends the guest's lines to ctl.out: woken by inotify, polled every 20 ms anyway. */
	char *ctl_out = path_in(dir, CTL_OUT);
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in >= 0)
		inotify_add_watch(in, ctl_out, IN_MODIFY);
	long long end = now_ms() + timeout_ms;
	int gone = 0;
	for (;;) {
		if (ctl_reported(ctl_out))
			return 0;
		if (!alive_as(qemu, "qemu-system")) {
			gone = 1;
			break;
		}
		if (now_ms() >= end)
			break;
		struct pollfd p = { .fd = in, .events = POLLIN };
		if (poll(&p, in >= 0 ? 1 : 0, 20) > 0) {
			char ev[4096];
			while (read(in, ev, sizeof ev) > 0) {
			}
		}
	}
	if (!gone)
		kill(qemu, SIGKILL);
	boot_failure(dir, timeout_ms / 1000, !gone);
}

static int do_state(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		die("container \"%s\" does not exist", id);
	pid_t pid = read_pid(path_in(dir, QEMU_PID));
	int alive = alive_as(pid, "qemu-system");
	const char *status = !alive ? "stopped" : access(path_in(dir, CREATED), F_OK) == 0 ? "created" : access(path_in(dir, PAUSED), F_OK) == 0 ? "paused" : "running";
	/* Ids are the engine's hex; quote nothing else. */
	printf("{\"ociVersion\":\"1.0.2\",\"id\":\"%s\",\"pid\":%d,\"status\":\"%s\"}\n", id, alive ? (int)pid : 0, status);
	return 0;
}

/* A signal as runc takes it: a number, or a name with or without SIG; -1 when it is neither. */
static int signal_number(const char *name)
{
	static const struct { const char *name; int sig; } table[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL }, { "TRAP", SIGTRAP },
		{ "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
		{ "SEGV", SIGSEGV }, { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
		{ "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM },
		{ "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
		{ "IOT", SIGIOT }, { "POLL", SIGPOLL }, { "STKFLT", SIGSTKFLT },
	};
	if (name[0] >= '0' && name[0] <= '9') {
		char *end;
		long n = strtol(name, &end, 10);
		return *end == 0 && n >= 0 && n < 65 ? (int)n : -1;
	}
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcasecmp(name, table[i].name) == 0)
			return table[i].sig;
	return -1;
}

/* `kill [--all] ID [SIGNAL]`: a `signal N` line for the guest init; --all (stop's escalation,
 * rm -f) and a VM not started yet pull the plug. SIGKILL ends QEMU if the guest has not within 5 s. */
static int do_kill(const char *dir, const char *sig_name, int all)
{
	pid_t qemu = read_pid(path_in(dir, QEMU_PID));
	if (!alive_as(qemu, "qemu-system"))
		die("container not running");
	int sig = signal_number(sig_name);
	if (sig < 0) {
		fprintf(stderr, "invalid signal %s\n", sig_name);
		exit(2);
	}
	if (all || access(path_in(dir, CREATED), F_OK) == 0) {
		kill(qemu, SIGKILL);
		return 0;
	}
	char line[32];
	snprintf(line, sizeof line, "signal %d\n", sig);
	ctl_send(dir, line);
	if (sig != SIGKILL)
		return 0;
	for (long long end = now_ms() + KILL_WAIT_MS; now_ms() < end; sleep_ms(20))
		if (!alive_as(qemu, "qemu-system"))
			return 0;
	kill(qemu, SIGKILL);
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/*
 * cgroups.json: a JSON array of absolute directory paths (vm/cgroup.ts), each rmdir'd. A
 * process that has exited still holds its cgroup until it is reaped: QEMU and virtiofsd are the
 * monitor's children (it is their subreaper), and it reaps them while this runs. So a busy
 * directory is tried again for a while; one still busy after that is left to the host.
 */
#define CGROUP_BUSY_WAIT_MS 5000
static void remove_cgroups(const char *dir)
{
	char *p = path_in(dir, CGROUPS), *json = slurp(p);
	free(p);
	char *dirs[16];
	int n = 0;
	for (char *s = json ? strchr(json, '"') : NULL; s && n < 16; s = strchr(s + 1, '"')) {
		char *e = strchr(s + 1, '"');
		if (!e)
			break;
		*e = 0;
		if (s[1] == '/' && !strchr(s + 1, '\\'))
			dirs[n++] = s + 1;
		s = e;
	}
	for (long long end = now_ms() + CGROUP_BUSY_WAIT_MS;; sleep_ms(5)) {
		int busy = 0;
		for (int i = 0; i < n; i++) {
			if (!dirs[i] || rmdir(dirs[i]) == 0 || errno == ENOENT)
				dirs[i] = NULL;
			else
				busy += errno == EBUSY;
		}
		if (!busy || now_ms() >= end)
			break;
	}
	free(json);
}

/*
 * `delete [--force] ID`: QEMU and every virtiofsd of the VM get SIGKILL (checked against the
 * process name), and the directory (its pid files) goes only once they have: without it nothing
 * could find them again. Then virtiofsd's lock files, the cgroup, the directory.
 */
static int do_delete(const char *dir)
{
	struct proc {
		char *pid_file, *socket;
		const char *comm;
	} procs[72];
	int n = 0;
	procs[n++] = (struct proc){ path_in(dir, QEMU_PID), NULL, "qemu-system" };
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && n < (int)(sizeof procs / sizeof procs[0])) {
		size_t len = strlen(e->d_name), sl = strlen(VIRTIOFSD_PID_SUFFIX);
		char *sock = NULL;
		if (strcmp(e->d_name, VIRTIOFSD_PID) == 0) {
			sock = strdup(VIRTIOFS_SOCK);
		} else if (len > sl && strcmp(e->d_name + len - sl, VIRTIOFSD_PID_SUFFIX) == 0) {
			if (asprintf(&sock, "%.*s.sock", (int)(len - sl), e->d_name) < 0)
				die("out of memory");
		}
		if (sock)
			procs[n++] = (struct proc){ path_in(dir, e->d_name), sock, "virtiofsd" };
	}
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++) {
		pid_t pid = read_pid(procs[i].pid_file);
		if (alive_as(pid, procs[i].comm))
			kill(pid, SIGKILL);
	}
	/* A SIGKILLed QEMU can take a while to free its guest RAM under load. */
	for (long long end = now_ms() + DELETE_WAIT_MS;; sleep_ms(5)) {
		int living = 0;
		for (int i = 0; i < n; i++)
			living += alive_as(read_pid(procs[i].pid_file), procs[i].comm);
		if (!living)
			break;
		if (now_ms() < end)
			continue;
		const char *sep = "";
		for (int i = 0; i < n; i++) {
			pid_t pid = read_pid(procs[i].pid_file);
			if (alive_as(pid, procs[i].comm)) {
				fprintf(stderr, "%s%s (pid %d)", sep, procs[i].comm, (int)pid);
				sep = ", ";
			}
		}
		die(" still running %d s after SIGKILL; the VM's state is kept", DELETE_WAIT_MS / 1000);
	}
	/* qemu.ts virtiofsdLockFile: /run/virtiofsd/<"../ID/SOCKET" with / → .>.pid */
	for (int i = 0; i < n; i++) {
		if (!procs[i].socket)
			continue;
		char *lock;
		if (asprintf(&lock, "/run/virtiofsd/...%s.%s.pid", id, procs[i].socket) < 0)
			die("out of memory");
		unlink(lock);
		free(lock);
	}
	remove_cgroups(dir);
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		die("remove %s: %s", dir, strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	/* runtime-main.ts parse(): --flag VALUE / --flag=VALUE anywhere, the first word the verb. */
	const char *verb = NULL, *rest[4] = { 0 };
	int nrest = 0, all = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) == 0) {
			static const char *value_flags[] = { "--root", "--log", "--log-format", "--bundle", "--pid-file", "--console-socket", "--process" };
			const char *eq = strchr(a, '=');
			int takes = 0;
			for (size_t f = 0; f < sizeof value_flags / sizeof value_flags[0]; f++)
				takes |= !eq && strcmp(a, value_flags[f]) == 0;
			if (strncmp(a, "--root", 6) == 0 && (a[6] == 0 || a[6] == '='))
				root = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : "");
			if (strcmp(a, "--all") == 0)
				all = 1;
			if (takes)
				i++;
		} else if (!verb) {
			verb = a;
		} else if (nrest < 4) {
			rest[nrest++] = a;
		}
	}
	if (!root || !verb || !rest[0])
		to_node(argv); /* usage errors, verbs without an id */
	id = rest[0];
	/* An id is a directory name under the root, never a path. */
	if (!id[0] || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		to_node(argv);
	char *dir = path_in(root, id);
	if (strcmp(verb, "start") == 0)
		return do_start(dir);
	if (strcmp(verb, "state") == 0)
		return do_state(dir);
	if (strcmp(verb, "kill") == 0)
		return do_kill(dir, rest[1] ? rest[1] : "TERM", all);
	if (strcmp(verb, "delete") == 0)
		return do_delete(dir);
	to_node(argv);
}
