/*
 * What hull-vm-init.c (pid 1 of a hull VM) and guest-exec.c (`hull exec` inside it) share.
 */
#ifndef HULL_VM_GUEST_H
#define HULL_VM_GUEST_H
#define _GNU_SOURCE
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

/* A process to run in the guest: the workload or an exec. argv has room for a final NULL. */
struct proc_spec {
	char **argv;
	int argc;
	char **env;
	int envc;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	int tty;
};

/* A line on the VM's console log (kernel messages), where failures are diagnosed. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int write_all(int fd, const char *buf, size_t len);
/* A small file (sysfs, /proc) read into `buf` as a string: its length, or -1 (buf "") if unreadable. */
ssize_t read_file(const char *path, char *buf, size_t size);
/* /dev/vportNpM of the virtio serial port `name` (waits for it); fails the VM if it never comes. */
int open_port(const char *name, int flags);
/* In a forked child: become `p` with stdio in/out/err; why it could not goes to `errpipe` as
 * "STATUS MESSAGE" (127 not found, 126 not runnable, 128 bad cwd). */
void exec_proc(const struct proc_spec *p, int in, int out, int err, int errpipe) __attribute__((noreturn));
/* A pty master (-t) and its opened slave; -1 with errno on failure. */
int open_pty(int *slave);

/* guest-exec.c: `exec N ID` on hull.ctl starts serving port hull.execN for session ID (protocol there). */
#define EXEC_SLOTS 8
#define EXEC_POLLFDS 4 /* per slot: its port, the process's stdout, stderr and stdin */
void exec_begin(int slot, uint32_t id);
/* Adds the fds of running execs to `p` (room for EXEC_SLOTS * EXEC_POLLFDS); returns how many.
 * Sets *timeout_ms when a port is to be polled again soon rather than when it has news. */
int exec_pollfds(struct pollfd *p, int *timeout_ms);
/* Handles the events poll returned for the fds exec_pollfds added, in the same order. */
void exec_events(const struct pollfd *p, int n);
/* A reaped child: 1 when it was an exec's (its status then goes to the host). */
int exec_reaped(pid_t pid, int status);
#endif
