/*
 * hull-vm-init: pid 1 of a hull VM (docs/ARCHITECTURE.md, "Virtual machines").
 *
 * Static C rather than a busybox script: it must fork the workload, forward signals to it,
 * reap, and report the exact exit status over a byte channel; a shell does that only
 * approximately (no signalfd, traps lose the status of a signalled child) and would need
 * `setpriv` for the user switch, which Debian's busybox-static lacks.
 *
 * Steps: mount /dev /proc /sys; load the kernel modules listed in /modules.order (the
 * initramfs hull builds holds exactly the virtio ones this kernel needs); open the virtio
 * serial ports hull.stdin/stdout/stderr/ctl; read the workload from hull.ctl; mount the
 * container's root (virtio-fs tag "hullroot") and switch into it; run the workload as the
 * image's user with its env and workdir; forward "signal N" lines from hull.ctl to it; when it
 * ends, write "exit N" or "signal N" to hull.ctl and power off.
 *
 * The config on hull.ctl: "config LEN\n" then LEN bytes of NUL-terminated fields, each a
 * one-letter key and a value: a=argv element, e=env entry, c=cwd, u=uid, g=gid,
 * G=additional gid, h=hostname, H=/etc/hosts content, R=resolv.conf content, n=/etc/hostname,
 * i=1 when the guest has a hull.stdin port; N="name mac mtu" of a NIC (vm/network.ts), followed
 * by its A=IPv4 address/prefix fields; W=the default IPv4 gateway; V=virtio-fs tag of a volume
 * or bind, or T=tmpfs mount data, each followed by D=destination, f=mount flags and, for a bind
 * of a file, F=the file's name in the share (vm/mounts.ts).
 */
#include "guest.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIELDS 4096
#define NEWROOT "/newroot"

static int ctl_fd = -1;

void msg(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	/* The kernel console (the VM's console log on the host): where boot failures are read.
	 * One write() per record: /dev/kmsg refuses glibc's dprintf (EINVAL), which had silently
	 * kept every one of these lines (and the KVM probe's "probe ok") off the console. */
	char line[1100];
	int len = snprintf(line, sizeof line, "hull-vm-init: %.*s\n", n, buf);
	int k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (k >= 0) {
		if (write(k, line, (size_t)(len < (int)sizeof line ? len : (int)sizeof line - 1)) < 0) {
			/* nowhere left to say it */
		}
		close(k);
	}
}

static void ctl_write(const char *fmt, ...)
{
	char buf[1100];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (ctl_fd < 0 || n <= 0)
		return;
	if ((size_t)n > sizeof buf - 1)
		n = sizeof buf - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(ctl_fd, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (int)w;
	}
}

/* How far the boot got, for a boot that hangs: on the console (which the host's boot-timeout
 * error quotes; the kernel runs with loglevel=5, so these lines show and its chatter does not)
 * and, once hull.ctl is open, as a `stage NAME` line there. Few and short: under TCG every
 * console byte is an emulated UART write. */
static void stage(const char *name)
{
	msg("%s", name);
	ctl_write("stage %s\n", name);
}

static __attribute__((noreturn)) void power_off(void)
{
	sync();
	/* QEMU runs with -no-reboot, so a restart request ends it; microvm has no ACPI power
	 * button path that works without more modules, and a reboot needs none. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static __attribute__((noreturn)) void fail(const char *fmt, ...)
{
	char buf[1000];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	msg("%s", buf);
	ctl_write("error %s\n", buf);
	power_off();
}

static void mount_or_fail(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0)
		fail("mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

static void load_modules(void)
{
	FILE *f = fopen("/modules.order", "re");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail("module %s: %s", line, strerror(errno));
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			fail("load module %s: %s", line, strerror(errno));
		close(fd);
	}
	fclose(f);
}

/* /dev/vportNpM of the virtio serial port named `name`; waits for the device to appear. */
int open_port(const char *name, int flags)
{
	for (int tries = 0; tries < 1000; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[300], got[128] = "";
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			ssize_t n = read_file(path, got, sizeof got);
			if (n < 0)
				continue;
			if (n > 0 && got[n - 1] == '\n')
				got[n - 1] = 0;
			if (strcmp(got, name) == 0) {
				snprintf(path, sizeof path, "/dev/%s", e->d_name);
				closedir(d);
				int p = open(path, flags);
				if (p < 0)
					fail("open %s (%s): %s", path, name, strerror(errno));
				return p;
			}
		}
		if (d)
			closedir(d);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	fail("virtio port %s did not appear", name);
}

static int read_full(int fd, char *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t r = read(fd, buf + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, 100);
			continue;
		}
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static struct {
	char *argv[MAX_FIELDS], *env[MAX_FIELDS];
	int argc, envc;
	const char *cwd, *hostname, *hosts, *resolv, *etc_hostname;
	uid_t uid;
	gid_t gid;
	gid_t groups[256];
	int ngroups;
	int stdin, tty;
	struct {
		char name[IFNAMSIZ], mac[18];
		int mtu;
		const char *addrs[8];
		int naddrs;
	} nets[8];
	int nnets;
	const char *gateway;
	struct {
		const char *tag, *tmpfs_data, *dest, *file;
		unsigned long flags;
	} mounts[64];
	int nmounts;
} cfg = { .cwd = "/" };

static void read_config(void)
{
	char head[64];
	size_t n = 0;
	while (n < sizeof head - 1) {
		if (read_full(ctl_fd, head + n, 1) < 0)
			fail("hull.ctl closed before the config arrived");
		if (head[n++] == '\n')
			break;
	}
	head[n] = 0;
	unsigned long len;
	if (sscanf(head, "config %lu", &len) != 1 || len > (64u << 20))
		fail("bad config header: %s", head);
	char *buf = malloc(len + 1);
	if (!buf || read_full(ctl_fd, buf, len) < 0)
		fail("config truncated");
	buf[len] = 0;
	for (char *p = buf; p < buf + len; p += strlen(p) + 1) {
		char key = p[0], *val = p + 1;
		switch (key) {
		case 'a': if (cfg.argc < MAX_FIELDS - 1) cfg.argv[cfg.argc++] = val; break;
		case 'e': if (cfg.envc < MAX_FIELDS - 1) cfg.env[cfg.envc++] = val; break;
		case 'c': cfg.cwd = val; break;
		case 'u': cfg.uid = (uid_t)strtoul(val, NULL, 10); break;
		case 'g': cfg.gid = (gid_t)strtoul(val, NULL, 10); break;
		case 'G': if (cfg.ngroups < 256) cfg.groups[cfg.ngroups++] = (gid_t)strtoul(val, NULL, 10); break;
		case 'h': cfg.hostname = val; break;
		case 'H': cfg.hosts = val; break;
		case 'R': cfg.resolv = val; break;
		case 'n': cfg.etc_hostname = val; break;
		case 'i': cfg.stdin = val[0] == '1'; break;
		case 't': cfg.tty = val[0] == '1'; break;
		case 'N':
			if (cfg.nnets < 8 && sscanf(val, "%15s %17s %d", cfg.nets[cfg.nnets].name, cfg.nets[cfg.nnets].mac, &cfg.nets[cfg.nnets].mtu) == 3)
				cfg.nnets++;
			break;
		case 'A':
			if (cfg.nnets > 0 && cfg.nets[cfg.nnets - 1].naddrs < 8)
				cfg.nets[cfg.nnets - 1].addrs[cfg.nets[cfg.nnets - 1].naddrs++] = val;
			break;
		case 'W': cfg.gateway = val; break;
		case 'V':
		case 'T':
			if (cfg.nmounts < 64) {
				cfg.mounts[cfg.nmounts].tag = key == 'V' ? val : NULL;
				cfg.mounts[cfg.nmounts].tmpfs_data = key == 'T' ? val : NULL;
				cfg.nmounts++;
			}
			break;
		case 'D': if (cfg.nmounts > 0) cfg.mounts[cfg.nmounts - 1].dest = val; break;
		case 'F': if (cfg.nmounts > 0) cfg.mounts[cfg.nmounts - 1].file = val; break;
		case 'f': if (cfg.nmounts > 0) cfg.mounts[cfg.nmounts - 1].flags = strtoul(val, NULL, 10); break;
		default: break;
		}
	}
	if (cfg.argc == 0)
		fail("no command in the config");
}

/* The kernel's name of the NIC with MAC `mac`, waiting for virtio_net to probe it. */
static int find_nic(const char *mac, char *name)
{
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/sys/class/net");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' || strlen(e->d_name) >= IFNAMSIZ)
				continue;
			char path[300], got[32] = "";
			snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
			if (read_file(path, got, sizeof got) < 0)
				continue;
			if (strncasecmp(got, mac, 17) == 0) {
				strcpy(name, e->d_name);
				closedir(d);
				return 0;
			}
		}
		if (d)
			closedir(d);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void set_ipv4(struct sockaddr *sa, const char *ip)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	memset(in, 0, sizeof *in);
	in->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
		fail("bad IPv4 address %s", ip);
}

static void if_up(int s, const char *name)
{
	struct ifreq ifr = { 0 };
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("get flags of %s: %s", name, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("bring up %s: %s", name, strerror(errno));
}

/* lo, then each NIC as netavark configured its veth: name, MTU, IPv4 addresses; the gateway.
 * ioctls rather than netlink: IPv4 is all hull's networks give the guest (ARCHITECTURE.md). */
static void setup_network(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("socket: %s", strerror(errno));
	if_up(s, "lo");
	char kname[8][IFNAMSIZ];
	int renames = 0;
	for (int i = 0; i < cfg.nnets; i++) {
		if (find_nic(cfg.nets[i].mac, kname[i]) < 0)
			fail("no network device with MAC %s appeared", cfg.nets[i].mac);
		renames |= strcmp(kname[i], cfg.nets[i].name) != 0;
	}
	/* Two passes of renames: a wanted name may be another NIC's kernel name. None when every
	 * NIC already has its name (one network: the kernel's eth0 is the veth's eth0); each
	 * rename is an ioctl the kernel takes ~10 ms over under TCG. */
	for (int i = 0; renames && i < cfg.nnets; i++) {
		struct ifreq ifr = { 0 };
		memcpy(ifr.ifr_name, kname[i], IFNAMSIZ - 1); /* NUL-terminated within IFNAMSIZ (find_nic) */
		snprintf(ifr.ifr_newname, IFNAMSIZ, "hulln%d", i);
		if (ioctl(s, SIOCSIFNAME, &ifr) < 0)
			fail("rename %s: %s", kname[i], strerror(errno));
	}
	for (int i = 0; i < cfg.nnets; i++) {
		struct ifreq ifr = { 0 };
		snprintf(ifr.ifr_name, IFNAMSIZ, "hulln%d", i);
		strncpy(ifr.ifr_newname, cfg.nets[i].name, IFNAMSIZ - 1);
		if (renames && ioctl(s, SIOCSIFNAME, &ifr) < 0)
			fail("rename to %s: %s", cfg.nets[i].name, strerror(errno));
		memset(&ifr, 0, sizeof ifr);
		strncpy(ifr.ifr_name, cfg.nets[i].name, IFNAMSIZ - 1);
		ifr.ifr_mtu = cfg.nets[i].mtu;
		if (cfg.nets[i].mtu > 0 && ioctl(s, SIOCSIFMTU, &ifr) < 0)
			msg("mtu %d on %s: %s", cfg.nets[i].mtu, cfg.nets[i].name, strerror(errno));
		for (int a = 0; a < cfg.nets[i].naddrs; a++) {
			char ip[64];
			int prefix = 32;
			if (sscanf(cfg.nets[i].addrs[a], "%63[^/]/%d", ip, &prefix) < 1 || prefix < 0 || prefix > 32)
				fail("bad address %s", cfg.nets[i].addrs[a]);
			memset(&ifr, 0, sizeof ifr);
			/* Further addresses go on aliases (eth0:1), as the ioctl interface wants. */
			if (a == 0)
				strncpy(ifr.ifr_name, cfg.nets[i].name, IFNAMSIZ - 1);
			else
				snprintf(ifr.ifr_name, IFNAMSIZ, "%.10s:%d", cfg.nets[i].name, a);
			set_ipv4(&ifr.ifr_addr, ip);
			if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
				fail("address %s on %s: %s", ip, ifr.ifr_name, strerror(errno));
			struct sockaddr_in *mask = (struct sockaddr_in *)&ifr.ifr_netmask;
			mask->sin_family = AF_INET;
			mask->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
			if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
				fail("netmask /%d on %s: %s", prefix, ifr.ifr_name, strerror(errno));
		}
		if_up(s, cfg.nets[i].name);
	}
	if (cfg.gateway) {
		struct rtentry rt;
		memset(&rt, 0, sizeof rt);
		set_ipv4(&rt.rt_dst, "0.0.0.0");
		set_ipv4(&rt.rt_genmask, "0.0.0.0");
		set_ipv4(&rt.rt_gateway, cfg.gateway);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		if (ioctl(s, SIOCADDRT, &rt) < 0)
			fail("default route via %s: %s", cfg.gateway, strerror(errno));
	}
	close(s);
}

/* Bind a file with `content` over `target` in the new root, as runc bind-mounts the engine's
 * /etc/hosts etc.: the image's files stay untouched, so `diff` does not see them. */
static void bind_file(const char *name, const char *content, const char *target)
{
	if (!content)
		return;
	char src[64], dst[256];
	snprintf(src, sizeof src, "/hull-etc/%s", name);
	mkdir("/hull-etc", 0755);
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) < 0)
		fail("write %s: %s", src, strerror(errno));
	close(fd);
	snprintf(dst, sizeof dst, NEWROOT "%s", target);
	struct stat st;
	if (lstat(dst, &st) < 0) {
		int t = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (t < 0)
			return; /* no /etc in the image: nothing to cover */
		close(t);
	} else if (!S_ISREG(st.st_mode)) {
		return;
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		msg("bind %s: %s", dst, strerror(errno));
}

/* mkdir -p of `path`; with `file`, its last component is made an empty file (a bind target). */
static void make_target(char *path, int file)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	if (!file) {
		mkdir(path, 0755);
	} else {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
}

/* The container's volumes, binds and tmpfs mounts, in config.json's order (parents first).
 * A share is mounted under /hull-vol (in the initramfs, out of sight once the root is switched)
 * and bind-mounted, whole or one file of it, at its destination. */
static void setup_mounts(void)
{
	for (int i = 0; i < cfg.nmounts; i++) {
		char target[4096];
		if (!cfg.mounts[i].dest || cfg.mounts[i].dest[0] != '/')
			fail("mount %d has no absolute destination", i);
		snprintf(target, sizeof target, NEWROOT "%s", cfg.mounts[i].dest);
		unsigned long flags = cfg.mounts[i].flags;
		if (!cfg.mounts[i].tag) {
			make_target(target, 0);
			if (mount("tmpfs", target, "tmpfs", flags, cfg.mounts[i].tmpfs_data) < 0)
				fail("tmpfs on %s: %s", cfg.mounts[i].dest, strerror(errno));
			continue;
		}
		char share[300], src[4400];
		snprintf(share, sizeof share, "/hull-vol/%s", cfg.mounts[i].tag);
		mkdir("/hull-vol", 0755);
		mount_or_fail(cfg.mounts[i].tag, share, "virtiofs", flags & MS_RDONLY, NULL);
		if (cfg.mounts[i].file)
			snprintf(src, sizeof src, "%s/%s", share, cfg.mounts[i].file);
		else
			snprintf(src, sizeof src, "%s", share);
		make_target(target, cfg.mounts[i].file != NULL);
		if (mount(src, target, NULL, MS_BIND, NULL) < 0)
			fail("bind %s on %s: %s", cfg.mounts[i].tag, cfg.mounts[i].dest, strerror(errno));
		if ((flags & MS_RDONLY) && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			fail("read-only %s: %s", cfg.mounts[i].dest, strerror(errno));
	}
}

static void setup_root(void)
{
	mount_or_fail("hullroot", NEWROOT, "virtiofs", 0, NULL);
	mount_or_fail("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_fail("sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_fail("devtmpfs", NEWROOT "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount_or_fail("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
	mount_or_fail("shm", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	setup_mounts();
	bind_file("hosts", cfg.hosts, "/etc/hosts");
	bind_file("resolv.conf", cfg.resolv, "/etc/resolv.conf");
	bind_file("hostname", cfg.etc_hostname, "/etc/hostname");
	if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)) < 0)
		msg("sethostname: %s", strerror(errno));
	/* switch_root: the new root takes the place of the initramfs. */
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		fail("switch to the container root: %s", strerror(errno));
}

int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* One read from *from (ready by `revents`) written to `to`. At its end (EOF, EIO once the pty's
 * last slave is closed, a hangup) *from is closed and set to -1 and the result is -1. */
static int relay(int *from, int to, short revents)
{
	if (*from < 0 || !(revents & (POLLIN | POLLHUP | POLLERR)))
		return 1;
	char buf[16384];
	ssize_t n = read(*from, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		close(*from);
		*from = -1;
		return -1;
	}
	if (to >= 0)
		write_all(to, buf, (size_t)n);
	return 0;
}

/* Reads what hull.ctl has and acts on its complete lines: `signal N` to the workload, `winsize
 * ROWS COLS` on the terminal (-t), `exec N ID` (guest-exec.c). Called when poll says the port is
 * readable. Returns 1 when one of the lines was `start`. */
static int ctl_lines(pid_t child, int master)
{
	int start = 0;
	static char line[256];
	static size_t have;
	ssize_t r = read(ctl_fd, line + have, sizeof line - 1 - have);
	if (r <= 0)
		return 0;
	have += (size_t)r;
	line[have] = 0;
	char *nl;
	while ((nl = strchr(line, '\n'))) {
		*nl = 0;
		int sig;
		unsigned session;
		struct winsize ws = { 0 };
		if (sscanf(line, "signal %d", &sig) == 1 && sig > 0 && sig < 65 && child > 0)
			kill(child, sig);
		else if (sscanf(line, "winsize %hu %hu", &ws.ws_row, &ws.ws_col) == 2 && master >= 0)
			ioctl(master, TIOCSWINSZ, &ws);
		else if (sscanf(line, "exec %d %u", &sig, &session) == 2 && child > 0)
			exec_begin(sig, session);
		else if (strcmp(line, "start") == 0)
			start = 1;
		size_t rest = have - (size_t)(nl + 1 - line);
		memmove(line, nl + 1, rest);
		have = rest;
		line[have] = 0;
	}
	if (have >= sizeof line - 1)
		have = 0;
	return start;
}

/* In the child: become process `p` (the workload or an exec). Reports why it could not on `errpipe`. */
void exec_proc(const struct proc_spec *p, int in, int out, int err, int errpipe)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	/* -t: the pty is the process's controlling terminal, as runc makes it. */
	if (p->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		_exit(126);
	char why[512];
	int status = 126;
	if (setgroups((size_t)p->ngroups, p->groups) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0) {
		snprintf(why, sizeof why, "setting user %u:%u: %s", p->uid, p->gid, strerror(errno));
	} else if (chdir(p->cwd) < 0) {
		snprintf(why, sizeof why, "chdir to cwd (\"%s\") set in config.json failed: %s", p->cwd, strerror(errno));
		status = 128;
	} else {
		clearenv();
		for (int i = 0; i < p->envc; i++)
			putenv(p->env[i]);
		p->argv[p->argc] = NULL;
		execvp(p->argv[0], p->argv);
		int e = errno;
		if (e == ENOENT && !strchr(p->argv[0], '/')) {
			snprintf(why, sizeof why, "exec: \"%s\": executable file not found in $PATH", p->argv[0]);
			status = 127;
		} else {
			snprintf(why, sizeof why, "exec: \"%s\": %s", p->argv[0], strerror(e));
			status = e == ENOENT ? 127 : 126;
		}
	}
	dprintf(errpipe, "%d %s", status, why);
	_exit(status);
}

int open_pty(int *slave)
{
	char name[64];
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -1;
	if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof name) != 0 ||
	    (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		int e = errno;
		close(master);
		errno = e;
		return -1;
	}
	return master;
}

int main(void)
{
	mount_or_fail("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
	mount_or_fail("proc", "/proc", "proc", 0, NULL);
	mount_or_fail("sysfs", "/sys", "sysfs", 0, NULL);
	stage("init running");

	char cmdline[4096] = "";
	int cf = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (cf >= 0) {
		ssize_t n = read(cf, cmdline, sizeof cmdline - 1);
		cmdline[n > 0 ? n : 0] = 0;
		close(cf);
	}
	load_modules();
	stage("modules loaded");
	/* bench/vm.ts's floor: boot to a mounted virtio-fs root, then power off. */
	if (strstr(cmdline, "hull.probe=root")) {
		mount_or_fail("hullroot", NEWROOT, "virtiofs", 0, NULL);
		msg("probe ok");
		power_off();
	}
	/* The acceleration probe (vm/accel.ts) only needs to see the guest reach its init. */
	if (strstr(cmdline, "hull.probe=1")) {
		msg("probe ok");
		power_off();
	}

	ctl_fd = open_port("hull.ctl", O_RDWR | O_CLOEXEC);
	stage("control port open");
	read_config();
	stage("config read");
	int out = open_port("hull.stdout", O_WRONLY | O_CLOEXEC);
	int err = open_port("hull.stderr", O_WRONLY | O_CLOEXEC);
	/* Without -i the workload's stdin is /dev/null, as in a container. */
	int in = cfg.stdin ? open_port("hull.stdin", O_RDONLY | O_CLOEXEC) : open("/dev/null", O_RDONLY | O_CLOEXEC);
	int tty_port = cfg.tty ? open_port("hull.tty", O_RDWR | O_CLOEXEC) : -1;
	setup_network();
	stage("network set up");
	setup_root();
	stage("root mounted");
	/* -t: the workload's stdio is a pty of the guest; its master is relayed to hull.tty. */
	int master = -1;
	if (cfg.tty) {
		int slave;
		master = open_pty(&slave);
		if (master < 0)
			fail("pty: %s", strerror(errno));
		close(in);
		close(out);
		close(err);
		in = slave;
		out = dup(slave);
		err = dup(slave);
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	/* The VM boots at `create` and waits here, ready, for `hull start` ("start" on hull.ctl): the
	 * boot overlaps the host's work between create and start. A terminal size sent before the
	 * start (attach comes first) is set before the workload runs, so it sees it at once. */
	stage("ready");
	for (;;) {
		struct pollfd early = { .fd = ctl_fd, .events = POLLIN };
		if (poll(&early, 1, -1) < 0 && errno != EINTR)
			fail("waiting for the start: %s", strerror(errno));
		if ((early.revents & POLLIN) && ctl_lines(0, master))
			break;
	}

	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0) {
		struct proc_spec workload = { .argv = cfg.argv, .argc = cfg.argc, .env = cfg.env, .envc = cfg.envc, .cwd = cfg.cwd,
					      .uid = cfg.uid, .gid = cfg.gid, .groups = cfg.groups, .ngroups = cfg.ngroups, .tty = cfg.tty };
		exec_proc(&workload, in, out, err, ep[1]);
	}
	close(ep[1]);
	char why[600];
	ssize_t wn = read(ep[0], why, sizeof why - 1);
	close(ep[0]);
	if (wn > 0) {
		why[wn] = 0;
		/* The workload never ran: say why where `hull logs` and the caller see it. */
		char *text = strchr(why, ' ');
		dprintf(err, "%s\n", text ? text + 1 : why);
		ctl_write("error %s\n", text ? text + 1 : why);
	} else {
		ctl_write("started\n");
	}
	close(in);
	close(out);
	close(err);

	int status = 0;
	for (;;) {
		struct pollfd p[4 + EXEC_SLOTS * EXEC_POLLFDS] = { { .fd = sfd, .events = POLLIN }, { .fd = ctl_fd, .events = POLLIN }, { .fd = master, .events = POLLIN }, { .fd = tty_port, .events = POLLIN } };
		int timeout = -1;
		int nexec = exec_pollfds(p + 4, &timeout);
		if (poll(p, (nfds_t)(4 + nexec), timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		exec_events(p + 4, nexec);
		if (relay(&master, tty_port, p[2].revents) < 0 || relay(&tty_port, master, p[3].revents) < 0)
			msg("terminal relay ended");
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0) {}
			pid_t w;
			int st;
			int done = 0;
			while ((w = waitpid(-1, &st, WNOHANG)) > 0)
				if (w == child) {
					status = st;
					done = 1;
				} else {
					exec_reaped(w, st);
				}
			if (done)
				break;
		}
		if (p[1].revents & POLLIN) {
			ctl_lines(child, master);
		} else if (p[1].revents & (POLLHUP | POLLERR)) {
			/* Host side gone: nothing to forward; keep waiting for the workload. */
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	/* The VM ends with its workload, as a container ends with its init. */
	kill(-1, SIGKILL);
	/* The terminal's last output (the pty keeps it after the workload is gone). */
	if (master >= 0) {
		fcntl(master, F_SETFL, O_NONBLOCK);
		while (master >= 0 && relay(&master, tty_port, POLLIN) == 0) {}
	}
	if (WIFSIGNALED(status))
		ctl_write("signal %d\n", WTERMSIG(status));
	else
		ctl_write("exit %d\n", WEXITSTATUS(status));
	power_off();
}
