/*
 * `hull exec` inside a VM: the guest init's side (docs/ARCHITECTURE.md, "Virtual machines",
 * exec). The host side is src/vm/exec.ts.
 *
 * The VM has EXEC_SLOTS virtio serial ports hull.exec0..N, each a QEMU socket chardev the host
 * connects to. An exec takes a free slot on the host (a lock file), picks a random session id,
 * connects, writes its request and then asks the init on hull.ctl with "exec N ID"; the init
 * opens hull.execN and from then on both sides speak frames: a type byte, the 4-byte big-endian
 * session id, a 4-byte big-endian length, the payload.
 *
 * The session id is what makes a slot safe to reuse. A slot's byte streams are not clean at the
 * start of a session: the host side of an earlier exec may have gone away (killed, timed out)
 * with frames still queued towards it, which QEMU then delivers to the next connection on the
 * socket, and frames an earlier host wrote last (stdin, a signal) may be read by the guest only
 * when it opens the port again. So each side skips bytes until a frame head of its own session
 * (the guest: a P or L with the id "exec N ID" named; the host: any guest frame with its id),
 * which also gets past a frame cut in half, and drops frames of other ids after that.
 *
 *   host → guest  L  list the guest's processes (`top`): answered by O frames, in the columns
 *                    of `ps -ef`, and X
 *                 P  the process: NUL-terminated fields a=argv element, e=env entry, c=cwd,
 *                    u=uid, g=gid, G=additional gid, t=1 for a terminal, i=1 to keep stdin,
 *                    d=1 to detach, w="ROWS COLS" initial terminal size
 *                 I  stdin bytes          C  stdin closed (EOF)
 *                 W  "ROWS COLS" resize   K  "SIGNAL" to send to the process
 *   guest → host  S  started ("PID")      F  could not start ("STATUS MESSAGE", as runc's error)
 *                 O  stdout bytes         E  stderr bytes (with -t everything is O)
 *                 X  the end: "exit N" or "signal N"
 *
 * A detached exec gets S and the port is released at once; the process lives on with /dev/null
 * stdio, as `runc exec --detach` leaves it. If the host goes away (its port hangs up), the
 * process keeps running without its stdio, as a process whose `runc exec` was killed.
 */
#include "guest.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_HEAD 9
/* A port whose host is not connected yet polls as hung up at once: it is looked at again after
 * this long instead of spinning (the host's connection waits in QEMU's accept queue meanwhile). */
#define HUP_RETRY_MS 20
/* How long a port waits for its host's request before the slot is given up. */
#define REQUEST_WAIT_S 60
/* The guest kernel learns that the host connected from a control message, which travels on
 * another virtqueue than the port's data: the request can be read while the port still looks
 * hung up (the previous connection's close, just processed). For this long after its request
 * a session takes a hang-up for that, not for its host gone; once a frame went through, the
 * host was there and a hang-up is its end. */
#define CONNECT_GRACE_MS 5000
/* Room for the largest frame the host sends (a request with a big environment). */
#define EXEC_BUF (1024 * 1024)

static struct slot {
	int port; /* -1: free */
	uint32_t id; /* the session "exec N ID" named: only its frames are taken */
	int synced; /* its request (the first frame with its id) was seen */
	struct timespec synced_at;
	int connected; /* a frame of this session reached the host */
	int hup_wait; /* the host is not connected yet: the port sits out one short poll */
	pid_t pid; /* 0 until the process runs */
	int in; /* its stdin (a pipe; the pty master with -t), -1 when none */
	int out, err; /* its stdout/stderr pipes (with -t: the pty master, err -1) */
	int tty;
	char *buf; /* frames read from the port, not handled yet */
	size_t have;
	/* stdin bytes the process has not taken yet: until it does, no more frames are handled
	 * (nor read from the port), so pid 1 never blocks on a process that does not read. */
	char *pending;
	size_t pending_len;
	struct timespec begun; /* when "exec N" came */
} slots[EXEC_SLOTS] = { [0 ... EXEC_SLOTS - 1] = { .port = -1, .in = -1, .out = -1, .err = -1 } };

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The session's process goes on without its stdio (as a process whose `runc exec` was killed);
 * the port and what was read from it stay. */
static void drop_process(struct slot *s)
{
	if (s->in != s->out)
		close_fd(&s->in);
	s->in = -1;
	close_fd(&s->out);
	close_fd(&s->err);
	s->pid = 0;
	s->tty = 0;
	free(s->pending);
	s->pending = NULL;
	s->pending_len = 0;
}

/* The session is over: the slot is free until the next "exec N ID". */
static void release(struct slot *s)
{
	drop_process(s);
	close_fd(&s->port);
	s->id = 0;
	s->have = 0;
	s->synced = 0;
	s->connected = 0;
	s->hup_wait = 0;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* A hang-up seen on the port: the host's end, unless the session is too young to tell (see
 * CONNECT_GRACE_MS). */
static int hangup_is_end(const struct slot *s)
{
	return s->connected || ms_since(&s->synced_at) > CONNECT_GRACE_MS;
}

/* A whole frame to the host; the port is non-blocking, so a full queue is waited out. */
static int send_frame(struct slot *s, char type, const void *data, size_t len)
{
	uint32_t id = s->id;
	unsigned char head[FRAME_HEAD] = { (unsigned char)type,	   (unsigned char)(id >> 24),  (unsigned char)(id >> 16),
					   (unsigned char)(id >> 8), (unsigned char)id,	       (unsigned char)(len >> 24),
					   (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len };
	const struct {
		const void *p;
		size_t n;
	} parts[2] = { { head, FRAME_HEAD }, { data, len } };
	for (int i = 0; i < 2; i++) {
		const char *p = parts[i].p;
		size_t n = parts[i].n;
		while (n > 0) {
			ssize_t w = write(s->port, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN) {
				struct pollfd pf = { .fd = s->port, .events = POLLOUT };
				if (poll(&pf, 1, -1) < 0 && errno != EINTR)
					return -1;
				if ((pf.revents & (POLLHUP | POLLERR)) && hangup_is_end(s))
					return -1;
				if (pf.revents & (POLLHUP | POLLERR)) {
					struct timespec ts = { 0, 10 * 1000 * 1000 };
					nanosleep(&ts, NULL);
				}
				continue;
			}
			if (w <= 0)
				return -1;
			p += w;
			n -= (size_t)w;
			s->connected = 1;
		}
	}
	return 0;
}

static void send_text(struct slot *s, char type, const char *text)
{
	send_frame(s, type, text, strlen(text));
}

static int handle_frames(struct slot *s);

void exec_begin(int n, uint32_t id)
{
	if (n < 0 || n >= EXEC_SLOTS || id == 0)
		return;
	struct slot *s = &slots[n];
	if (!s->buf && !(s->buf = malloc(EXEC_BUF))) {
		msg("exec: out of memory");
		return;
	}
	if (s->port >= 0 && s->id == id)
		return;
	if (s->port >= 0) {
		/* The slot still serves an exec whose host is gone (the new one holds the slot's lock):
		 * that process keeps running on its own. The port stays open: it may already hold the
		 * new request, behind what the old host sent last (skipped by the id). */
		drop_process(s);
	} else {
		char name[32];
		snprintf(name, sizeof name, "hull.exec%d", n);
		s->port = open_port(name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		s->have = 0;
	}
	s->id = id;
	s->synced = 0;
	s->connected = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->begun);
	if (s->have && handle_frames(s) < 0)
		release(s);
}

/* Makes the process the P frame describes and tells the host how that went. */
static void spawn(struct slot *s, char *fields, size_t len)
{
	int argc = 0, envc = 0, ngroups = 0, keep_stdin = 0, detach = 0;
	for (char *f = fields; f < fields + len; f += strlen(f) + 1) {
		argc += f[0] == 'a';
		envc += f[0] == 'e';
		ngroups += f[0] == 'G';
	}
	char **argv = calloc((size_t)argc + 1, sizeof *argv), **env = calloc((size_t)envc + 1, sizeof *env);
	gid_t *groups = calloc((size_t)ngroups + 1, sizeof *groups);
	struct proc_spec p = { .argv = argv, .env = env, .cwd = "/", .groups = groups };
	struct winsize ws = { 0 };
	for (char *f = fields; argv && env && groups && f < fields + len; f += strlen(f) + 1) {
		char *v = f + 1;
		switch (f[0]) {
		case 'a': argv[p.argc++] = v; break;
		case 'e': env[p.envc++] = v; break;
		case 'c': p.cwd = v; break;
		case 'u': p.uid = (uid_t)strtoul(v, NULL, 10); break;
		case 'g': p.gid = (gid_t)strtoul(v, NULL, 10); break;
		case 'G': groups[p.ngroups++] = (gid_t)strtoul(v, NULL, 10); break;
		case 't': p.tty = v[0] == '1'; break;
		case 'i': keep_stdin = v[0] == '1'; break;
		case 'd': detach = v[0] == '1'; break;
		case 'w': sscanf(v, "%hu %hu", &ws.ws_row, &ws.ws_col); break;
		default: break;
		}
	}
	int child_in = -1, child_out = -1, child_err = -1, ep[2] = { -1, -1 };
	char why[600] = "";
	if (!argv || !env || !groups || p.argc == 0) {
		snprintf(why, sizeof why, "126 %s", p.argc == 0 ? "no command" : "out of memory");
		goto report;
	}
	if (detach) {
		child_in = open("/dev/null", O_RDWR | O_CLOEXEC);
		child_out = dup(child_in);
		child_err = dup(child_in);
	} else if (p.tty) {
		int master = open_pty(&child_in);
		if (master < 0) {
			snprintf(why, sizeof why, "126 pty: %s", strerror(errno));
			goto report;
		}
		if (ws.ws_row && ws.ws_col)
			ioctl(master, TIOCSWINSZ, &ws);
		child_out = dup(child_in);
		child_err = dup(child_in);
		s->tty = 1;
		s->in = s->out = master;
		fcntl(master, F_SETFL, O_NONBLOCK);
	} else {
		int ip[2] = { -1, -1 }, op[2], xp[2];
		if ((keep_stdin && pipe2(ip, O_CLOEXEC) < 0) || pipe2(op, O_CLOEXEC) < 0 || pipe2(xp, O_CLOEXEC) < 0) {
			snprintf(why, sizeof why, "126 pipe: %s", strerror(errno));
			goto report;
		}
		child_in = keep_stdin ? ip[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
		s->in = ip[1];
		child_out = op[1];
		s->out = op[0];
		child_err = xp[1];
		s->err = xp[0];
		s->tty = 0;
		fcntl(s->out, F_SETFL, O_NONBLOCK);
		fcntl(s->err, F_SETFL, O_NONBLOCK);
		if (s->in >= 0)
			fcntl(s->in, F_SETFL, O_NONBLOCK);
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(why, sizeof why, "126 pipe: %s", strerror(errno));
		goto report;
	}
	pid_t pid = fork();
	if (pid == 0)
		exec_proc(&p, child_in, child_out, child_err, ep[1]);
	close_fd(&ep[1]);
	if (pid < 0) {
		snprintf(why, sizeof why, "126 fork: %s", strerror(errno));
	} else {
		/* CLOEXEC: empty once the process runs, its reason if it could not. */
		ssize_t n = read(ep[0], why, sizeof why - 1);
		why[n > 0 ? n : 0] = 0;
		if (!why[0])
			s->pid = pid;
	}
report:
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	close_fd(&child_in);
	close_fd(&child_out);
	close_fd(&child_err);
	free(argv);
	free(env);
	free(groups);
	if (s->pid == 0) {
		send_text(s, 'F', why);
		release(s);
		return;
	}
	char started[32];
	snprintf(started, sizeof started, "%d", (int)s->pid);
	send_text(s, 'S', started);
	/* Detached: the process is on its own now (reaped by the init's loop, reported to no one). */
	if (detach)
		release(s);
}

/* The user name of `uid` in the guest's (the image's) /etc/passwd, else the number. */
static void user_name(uid_t uid, char *out, size_t size)
{
	snprintf(out, size, "%u", uid);
	FILE *f = fopen("/etc/passwd", "re");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		char *name = strtok(line, ":"), *pw = strtok(NULL, ":"), *id = strtok(NULL, ":");
		if (name && pw && id && (uid_t)strtoul(id, NULL, 10) == uid) {
			snprintf(out, size, "%s", name);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* A line of `ps -ef` (UID PID PPID C STIME TTY TIME CMD) for /proc/<name>; 0 for kernel threads. */
static int ps_line(const char *name, time_t boot, long hz, char *out, size_t size)
{
	char path[300], stat[1024];
	snprintf(path, sizeof path, "/proc/%s/stat", name);
	if (read_file(path, stat, sizeof stat) <= 0)
		return 0;
	char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
	if (!open_paren || !close_paren)
		return 0;
	*close_paren = 0;
	char state;
	int ppid, tty;
	unsigned long flags, utime, stime;
	unsigned long long start;
	if (sscanf(close_paren + 2, "%c %d %*d %*d %d %*d %lu %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu", &state, &ppid, &tty, &flags, &utime, &stime, &start) != 7)
		return 0;
	if (flags & 0x00200000) /* PF_KTHREAD */
		return 0;
	char cmd[2048] = "";
	snprintf(path, sizeof path, "/proc/%s/cmdline", name);
	ssize_t n = read_file(path, cmd, sizeof cmd);
	for (ssize_t i = 0; i < n - 1; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	if (n <= 0)
		snprintf(cmd, sizeof cmd, "[%s]", open_paren + 1);
	uid_t uid = 0;
	char status[2048];
	snprintf(path, sizeof path, "/proc/%s/status", name);
	read_file(path, status, sizeof status);
	char *u = strstr(status, "\nUid:");
	if (u)
		uid = (uid_t)strtoul(u + 5, NULL, 10);
	char user[64], tty_name[32] = "?", stime_text[16] = "?";
	user_name(uid, user, sizeof user);
	unsigned major = ((unsigned)tty >> 8) & 0xfff, minor = ((unsigned)tty & 0xff) | (((unsigned)tty >> 12) & 0xfff00);
	if (major >= 136 && major <= 143)
		snprintf(tty_name, sizeof tty_name, "pts/%u", (major - 136) * 256 + minor);
	else if (major == 4)
		snprintf(tty_name, sizeof tty_name, "tty%u", minor);
	else if (major == 5 && minor == 1)
		snprintf(tty_name, sizeof tty_name, "console");
	time_t started = boot + (time_t)(start / (unsigned long long)hz);
	struct tm tm;
	if (gmtime_r(&started, &tm))
		strftime(stime_text, sizeof stime_text, "%H:%M", &tm);
	unsigned long cpu = (utime + stime) / (unsigned long)hz;
	snprintf(out, size, "%-8s %5s %5d  0 %s %-8s %02lu:%02lu:%02lu %s\n", user, name, ppid, stime_text, tty_name, cpu / 3600, cpu / 60 % 60, cpu % 60, cmd);
	return 1;
}

static void list_processes(struct slot *s)
{
	long hz = sysconf(_SC_CLK_TCK);
	double uptime = 0;
	FILE *f = fopen("/proc/uptime", "re");
	if (f) {
		if (fscanf(f, "%lf", &uptime) != 1)
			uptime = 0;
		fclose(f);
	}
	time_t boot = time(NULL) - (time_t)uptime;
	send_text(s, 'O', "UID        PID  PPID  C STIME TTY          TIME CMD\n");
	DIR *d = opendir("/proc");
	struct dirent *e;
	char line[2300];
	while (d && (e = readdir(d)))
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && ps_line(e->d_name, boot, hz > 0 ? hz : 100, line, sizeof line))
			send_text(s, 'O', line);
	if (d)
		closedir(d);
	send_text(s, 'X', "exit 0");
	release(s);
}

/* stdin bytes to the process without blocking: what it does not take now waits in `pending`. */
static void feed_stdin(struct slot *s, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(s->in, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			if (!s->tty)
				close_fd(&s->in);
			return;
		}
		data += w;
		len -= (size_t)w;
	}
	if (len == 0)
		return;
	s->pending = malloc(len);
	if (!s->pending)
		return; /* out of memory: these bytes are lost rather than pid 1 blocked */
	memcpy(s->pending, data, len);
	s->pending_len = len;
}

static void handle_frame(struct slot *s, char type, char *data, size_t len)
{
	if (type == 'L' && s->pid == 0) {
		list_processes(s);
		return;
	}
	if (type == 'P' && s->pid == 0) {
		spawn(s, data, len);
		return;
	}
	if (s->pid == 0)
		return;
	if (type == 'I' && s->in >= 0) {
		feed_stdin(s, data, len);
	} else if (type == 'C' && !s->tty) {
		close_fd(&s->in);
	} else if (type == 'W' && s->tty) {
		struct winsize ws = { 0 };
		char text[32];
		snprintf(text, sizeof text, "%.*s", (int)(len < 31 ? len : 31), data);
		if (sscanf(text, "%hu %hu", &ws.ws_row, &ws.ws_col) == 2)
			ioctl(s->out, TIOCSWINSZ, &ws);
	} else if (type == 'K') {
		char text[16];
		snprintf(text, sizeof text, "%.*s", (int)(len < 15 ? len : 15), data);
		int sig = atoi(text);
		if (sig > 0 && sig < 65)
			kill(s->pid, sig);
	}
}

static uint32_t be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Before the session's request: skips what an earlier session left, up to a P or L head with
 * this session's id (or keeps the last 4 bytes, which may begin one). */
static void sync_request(struct slot *s)
{
	/* A new request came before its "exec N ID": it waits in the buffer for that line. */
	if (s->id == 0) {
		if (s->have == EXEC_BUF)
			s->have = 0;
		return;
	}
	size_t off = 0;
	for (; off + 5 <= s->have; off++) {
		const unsigned char *h = (const unsigned char *)s->buf + off;
		if ((h[0] == 'P' || h[0] == 'L') && be32(h + 1) == s->id) {
			s->synced = 1;
			clock_gettime(CLOCK_MONOTONIC, &s->synced_at);
			break;
		}
	}
	if (!s->synced)
		off = s->have > 4 ? s->have - 4 : 0;
	memmove(s->buf, s->buf + off, s->have - off);
	s->have -= off;
}

/* Handles the complete frames in the slot's buffer, until stdin is pending; -1 on a bad frame. */
static int handle_frames(struct slot *s)
{
	if (!s->synced)
		sync_request(s);
	size_t off = 0;
	while (s->synced && s->have - off >= FRAME_HEAD && !s->pending) {
		const unsigned char *h = (const unsigned char *)s->buf + off;
		size_t len = be32(h + 5);
		if (len > EXEC_BUF - FRAME_HEAD)
			return -1;
		if (s->have - off < FRAME_HEAD + len)
			break;
		/* Another session's request: a new host holds the slot, so this session's host is gone
		 * (QEMU took the new connection before the guest saw the old one hang up). The request
		 * waits for its "exec N ID"; other sessions' frames are left-overs, dropped. */
		if (be32(h + 1) != s->id && (h[0] == 'P' || h[0] == 'L')) {
			drop_process(s);
			s->id = 0;
			s->synced = 0;
			clock_gettime(CLOCK_MONOTONIC, &s->begun);
			break;
		}
		if (be32(h + 1) == s->id)
			handle_frame(s, (char)h[0], s->buf + off + FRAME_HEAD, len);
		if (s->port < 0)
			return 0; /* released while handling (a detached or failed start) */
		off += FRAME_HEAD + len;
	}
	memmove(s->buf, s->buf + off, s->have - off);
	s->have -= off;
	return 0;
}

/* Reads what the host sent and handles each complete frame; -1 when the host is gone. */
static int read_port(struct slot *s)
{
	ssize_t n = read(s->port, s->buf + s->have, EXEC_BUF - s->have);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	s->have += (size_t)n;
	return handle_frames(s);
}

/* Writes what stdin has pending; when all of it is taken, the frames held back are handled. */
static void flush_stdin(struct slot *s)
{
	while (s->pending && s->pending_len > 0) {
		ssize_t w = write(s->in, s->pending, s->pending_len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			/* The process closed its stdin (or exited): the rest has no reader. */
			if (!s->tty)
				close_fd(&s->in);
			s->pending_len = 0;
			break;
		}
		memmove(s->pending, s->pending + w, s->pending_len - (size_t)w);
		s->pending_len -= (size_t)w;
	}
	free(s->pending);
	s->pending = NULL;
	s->pending_len = 0;
	if (handle_frames(s) < 0)
		release(s);
}

/* One read of the process's output relayed as an O/E frame: 1 when something was relayed, 0
 * when nothing is there now, -1 at its end (the fd is then closed) or when the host is gone. */
static int relay_out(struct slot *s, int *fd, char type)
{
	char buf[16384];
	ssize_t n = read(*fd, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		/* A pty master reads EIO once the last slave is closed: the same end. */
		if (s->tty)
			s->in = -1;
		close_fd(fd);
		return -1;
	}
	if (send_frame(s, type, buf, (size_t)n) < 0) {
		release(s);
		return -1;
	}
	return 1;
}

int exec_pollfds(struct pollfd *p, int *timeout_ms)
{
	int n = 0;
	for (int i = 0; i < EXEC_SLOTS; i++) {
		struct slot *s = &slots[i];
		/* With stdin pending the port is not read (a hang-up is still seen), the stdin fd is
		 * watched for room instead. A port waiting for its host to connect sits this poll out
		 * (see HUP_RETRY_MS). */
		p[n++] = (struct pollfd){ .fd = s->hup_wait ? -1 : s->port, .events = s->pending ? 0 : POLLIN };
		if (s->hup_wait) {
			s->hup_wait = 0;
			*timeout_ms = HUP_RETRY_MS;
		}
		p[n++] = (struct pollfd){ .fd = s->pid ? s->out : -1, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s->pid ? s->err : -1, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s->pending ? s->in : -1, .events = POLLOUT };
	}
	return n;
}

/* Before its request arrives, a port may still look unconnected: "exec N ID" can come before
 * QEMU has dropped the slot's previous connection and accepted this one. That is the host gone
 * only once the request came, or after as long as the host waits for an answer. */
static int host_gone(const struct slot *s)
{
	if (s->synced)
		return hangup_is_end(s);
	return ms_since(&s->begun) > REQUEST_WAIT_S * 1000;
}

void exec_events(const struct pollfd *p, int n)
{
	for (int i = 0; i < EXEC_SLOTS && i * EXEC_POLLFDS + EXEC_POLLFDS - 1 < n; i++) {
		struct slot *s = &slots[i];
		const struct pollfd *q = p + i * EXEC_POLLFDS;
		int hup = s->port >= 0 && q[0].fd == s->port && (q[0].revents & (POLLHUP | POLLERR));
		if (s->port >= 0 && q[0].fd == s->port && (q[0].revents & POLLIN) && read_port(s) < 0)
			hup = 1;
		if (hup && s->port >= 0 && host_gone(s)) {
			/* The host side went away: the process keeps running without its stdio. */
			release(s);
			continue;
		}
		if (hup && s->port >= 0)
			s->hup_wait = 1;
		if (s->pid && s->out >= 0 && q[1].fd == s->out && q[1].revents)
			relay_out(s, &s->out, 'O');
		if (s->pid && s->err >= 0 && q[2].fd == s->err && q[2].revents)
			relay_out(s, &s->err, 'E');
		if (s->pending && s->port >= 0 && q[3].fd == s->in && s->in >= 0 && q[3].revents)
			flush_stdin(s);
	}
}

int exec_reaped(pid_t pid, int status)
{
	for (int i = 0; i < EXEC_SLOTS; i++) {
		struct slot *s = &slots[i];
		if (s->pid != pid || pid <= 0)
			continue;
		/* What it wrote before it ended is still in the pipes (or the pty): relay it first. A
		 * background child still holding them does not delay the end (nothing there now: done). */
		while (s->port >= 0 && s->out >= 0 && relay_out(s, &s->out, 'O') > 0) {}
		while (s->port >= 0 && s->err >= 0 && relay_out(s, &s->err, 'E') > 0) {}
		if (s->port >= 0) {
			char end[32];
			if (WIFSIGNALED(status))
				snprintf(end, sizeof end, "signal %d", WTERMSIG(status));
			else
				snprintf(end, sizeof end, "exit %d", WEXITSTATUS(status));
			send_text(s, 'X', end);
		}
		release(s);
		return 1;
	}
	return 0;
}
