// Network namespaces and rtnetlink requests for the default bridge's fast path
// (src/network/fast-bridge.ts): what `ip netns add` and the two `ip -batch` runs did, without a
// fork and exec of `ip` each (from a node process of this size, 5-30 ms of wall time and a few
// ms of CPU each, on the container's start and exit path). The kernel work itself is the same.
//
// Work inside a network namespace runs on a short-lived thread that joins (or creates) it:
// namespaces belong to a thread, so the calling thread never leaves its own, and nothing has to
// be undone when the work fails. All calls are synchronous; each is a handful of netlink
// round trips, well under a millisecond, except deleting a link (an RCU grace period).
//
// Failures throw errors shaped like Node's (code, errno, syscall) with the request in the
// message: "EEXIST: file already exists, RTM_NEWLINK 'vh0123456789ab'".
#define _GNU_SOURCE
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NETNS_RUN_DIR "/run/netns"

// ---- errors and arguments -------------------------------------------------------------------

// The Error for a failed operation: "CODE: message, OP 'WHAT'" with code, errno and syscall;
// err is -errno.
static napi_value op_error(napi_env env, int err, const char* op, const char* what) {
  return hn_errno_error(env, err, op, what, false);
}

static napi_value throw_op(napi_env env, int err, const char* op, const char* what) {
  return hn_throw_errno(env, err, op, what, false);
}

static int arg_ipv4(napi_env env, napi_value v, struct in_addr* out, const char* what) {
  char s[64];
  if (hn_get_string(env, v, s, sizeof s, what) != 0) return -1;
  if (inet_pton(AF_INET, s, out) != 1) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an IPv4 address", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return -1;
  }
  return 0;
}

// ---- rtnetlink --------------------------------------------------------------------------------

struct nlreq {
  struct nlmsghdr n;
  char buf[1024];
};

static void* nl_tail(struct nlreq* r) { return (char*)r + NLMSG_ALIGN(r->n.nlmsg_len); }

// Appends an attribute; the request buffer is sized far above anything built here.
static struct rtattr* nl_attr(struct nlreq* r, unsigned short type, const void* data, size_t len) {
  struct rtattr* a = nl_tail(r);
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static void nl_nest_end(struct nlreq* r, struct rtattr* nest) { nest->rta_len = (unsigned short)((char*)nl_tail(r) - (char*)nest); }

static void nl_init(struct nlreq* r, unsigned short type, unsigned short flags, size_t header) {
  memset(r, 0, sizeof *r);
  r->n.nlmsg_len = NLMSG_LENGTH(header);
  r->n.nlmsg_type = type;
  r->n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  return fd < 0 ? -errno : fd;
}

// Sends one request and waits for its acknowledgement: 0 or -errno.
static int nl_talk(int fd, struct nlmsghdr* n) {
  static uint32_t seq;
  n->nlmsg_seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  while (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr*)&kernel, sizeof kernel) < 0) {
    if (errno != EINTR) return -errno;
  }
  char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    int left = (int)got;
    for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != n->nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      return ((struct nlmsgerr*)NLMSG_DATA(h))->error; // 0: the acknowledgement
    }
  }
}

// RTM_NEWLINK on an existing link: up, and optionally enslaved to `master` (an ifindex).
static int link_up(int fd, int index, int master) {
  struct nlreq r;
  nl_init(&r, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
  struct ifinfomsg* ifi = NLMSG_DATA(&r.n);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (master > 0) nl_attr(&r, IFLA_MASTER, &master, sizeof master);
  return nl_talk(fd, &r.n);
}

static int addr_request(int fd, unsigned short type, unsigned short flags, int index, struct in_addr ip, unsigned prefix) {
  struct nlreq r;
  nl_init(&r, type, flags, sizeof(struct ifaddrmsg));
  struct ifaddrmsg* ifa = NLMSG_DATA(&r.n);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)prefix;
  ifa->ifa_index = (unsigned)index;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  nl_attr(&r, IFA_LOCAL, &ip, sizeof ip);
  nl_attr(&r, IFA_ADDRESS, &ip, sizeof ip);
  if (type == RTM_NEWADDR && prefix < 31) {
    // `broadcast +`: the host part all ones.
    struct in_addr brd = {.s_addr = ip.s_addr | htonl(prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1)};
    nl_attr(&r, IFA_BROADCAST, &brd, sizeof brd);
  }
  return nl_talk(fd, &r.n);
}

// ---- work inside a namespace, on a thread of its own -------------------------------------------

struct ns_job {
  const char* netns; // the namespace to join; NULL for netnsCreate's new one
  int (*fn)(struct ns_job*);
  int err;           // 0 or -errno
  const char* op;    // what failed
  // arguments
  const char* path;
  const char* dev;
  struct in_addr ip, gateway;
  uint32_t prefix, metric;
  int fd; // netnsSpare's result, netnsAttach's namespace
};

static void* ns_thread(void* arg) {
  struct ns_job* job = arg;
  if (job->netns != NULL) {
    int nsfd = open(job->netns, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      job->err = -errno;
      job->op = "open";
      return NULL;
    }
    int r = setns(nsfd, CLONE_NEWNET);
    int e = errno;
    close(nsfd);
    if (r != 0) {
      job->err = -e;
      job->op = "setns";
      return NULL;
    }
  }
  job->err = job->fn(job);
  return NULL;
}

// Runs job->fn on a new thread (in job->netns when set) and waits for it: 0 or -errno.
static int run_job(struct ns_job* job) {
  pthread_t t;
  int r = pthread_create(&t, NULL, ns_thread, job);
  if (r != 0) {
    job->op = "pthread_create";
    return -r;
  }
  pthread_join(t, NULL);
  return job->err;
}

// Records what failed; returns -errno (read before anything can change it).
static int fail(struct ns_job* job, const char* op) {
  int err = -errno;
  job->op = op;
  return err;
}

// /run/netns as `ip netns add` leaves it: a shared mount (so that unmounting a namespace's file
// anywhere unmounts it everywhere, and the namespace can be freed), with an empty file at `path`
// to bind a namespace onto.
static int netns_mountpoint(struct ns_job* job) {
  if (mkdir(NETNS_RUN_DIR, 0755) != 0 && errno != EEXIST) return fail(job, "mkdir");
  int made_mount = 0;
  while (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) != 0) {
    if (errno != EINVAL || made_mount) return fail(job, "mount --make-shared");
    if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) != 0) return fail(job, "mount --bind");
    made_mount = 1;
  }
  int fd = open(job->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail(job, "open");
  close(fd);
  return 0;
}

// As `ip netns add`: a new namespace bound onto the mount point. The new namespace is this
// thread's only; it lives on through the bind mount.
static int do_netns_create(struct ns_job* job) {
  int err = netns_mountpoint(job);
  if (err != 0) return err;
  if (unshare(CLONE_NEWNET) != 0) {
    err = fail(job, "unshare");
  } else if (mount("/proc/thread-self/ns/net", job->path, "none", MS_BIND, NULL) != 0) {
    err = fail(job, "mount --bind");
  }
  if (err != 0) unlink(job->path);
  return err;
}

// A spare namespace (src/network/spare-netns.ts): new, and held only by the returned fd (job->fd),
// not by any mount: when the process holding it ends, however it ends, the kernel frees it.
static int do_netns_spare(struct ns_job* job) {
  if (unshare(CLONE_NEWNET) != 0) return fail(job, "unshare");
  int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(job, "open");
  job->fd = fd;
  return 0;
}

// The spare's namespace (the fd `job->fd`) bound onto `path`, as `ip netns attach` does: from
// then on it is a namespace like any made by do_netns_create. No thread: nothing changes namespace.
static int do_netns_attach(struct ns_job* job) {
  int err = netns_mountpoint(job);
  if (err != 0) return err;
  char src[64];
  snprintf(src, sizeof src, "/proc/self/fd/%d", job->fd);
  if (mount(src, job->path, "none", MS_BIND, NULL) != 0) {
    err = fail(job, "mount --bind");
    unlink(job->path);
  }
  return err;
}

// lo up; DEV's address (with its broadcast) and up; the default route through GATEWAY.
static int do_netns_configure(struct ns_job* job) {
  int fd = nl_open();
  if (fd < 0) {
    job->op = "socket";
    return fd;
  }
  int dev = (int)if_nametoindex(job->dev), lo = (int)if_nametoindex("lo");
  int err = 0;
  if (dev == 0 || lo == 0) {
    err = -ENODEV;
    job->op = "if_nametoindex";
  } else if ((err = link_up(fd, lo, 0)) != 0) {
    job->op = "RTM_NEWLINK lo up";
  } else if ((err = addr_request(fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, dev, job->ip, job->prefix)) != 0) {
    job->op = "RTM_NEWADDR";
  } else if ((err = link_up(fd, dev, 0)) != 0) {
    job->op = "RTM_NEWLINK up";
  } else {
    struct nlreq r;
    nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct rtmsg));
    struct rtmsg* rt = NLMSG_DATA(&r.n);
    rt->rtm_family = AF_INET;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    nl_attr(&r, RTA_GATEWAY, &job->gateway, sizeof job->gateway);
    nl_attr(&r, RTA_OIF, &dev, sizeof dev);
    nl_attr(&r, RTA_PRIORITY, &job->metric, sizeof job->metric);
    if ((err = nl_talk(fd, &r.n)) != 0) job->op = "RTM_NEWROUTE";
  }
  close(fd);
  return err;
}

static int do_addr_delete(struct ns_job* job) {
  int fd = nl_open();
  if (fd < 0) {
    job->op = "socket";
    return fd;
  }
  int dev = (int)if_nametoindex(job->dev);
  int err = dev == 0 ? -ENODEV : addr_request(fd, RTM_DELADDR, 0, dev, job->ip, job->prefix);
  job->op = dev == 0 ? "if_nametoindex" : "RTM_DELADDR";
  close(fd);
  return err;
}

// ---- N-API ------------------------------------------------------------------------------------

// netnsCreate(path): a new network namespace bound onto `path` (under /run/netns), loopback down.
static napi_value netlink_netns_create(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[HN_PATH_BUF];
  if (hn_get_args(env, info, 1, argv, "netnsCreate(path)") != 0 || hn_get_string(env, argv[0], path, sizeof path, "path") != 0) return NULL;
  struct ns_job job = {.fn = do_netns_create, .path = path};
  int err = run_job(&job);
  return err != 0 ? throw_op(env, err, job.op, path) : NULL;
}

// netnsCreateAsync(path) → Promise: the same on libuv's thread pool (its own thread still makes
// the namespace, so no pool thread changes namespace), so that the start writes the bundle while
// the kernel makes the namespace (tens of ms under load, mostly waiting).
struct netns_work {
  napi_async_work work;
  napi_deferred deferred;
  char path[HN_PATH_BUF]; // empty: a spare (netnsSpareAsync)
  struct ns_job job;
  int err;
};

static void netns_execute(napi_env env, void* data) {
  (void)env;
  struct netns_work* w = data;
  w->job = (struct ns_job){.fn = w->path[0] ? do_netns_create : do_netns_spare, .path = w->path, .fd = -1};
  w->err = run_job(&w->job);
}

static void netns_complete(napi_env env, napi_status status, void* data) {
  struct netns_work* w = data;
  napi_value result;
  if (status == napi_ok && w->err == 0) {
    if (w->path[0]) napi_get_undefined(env, &result);
    else napi_create_int32(env, w->job.fd, &result);
    napi_resolve_deferred(env, w->deferred, result);
  } else {
    int err = status == napi_ok ? w->err : -ECANCELED;
    napi_reject_deferred(env, w->deferred, op_error(env, err, status == napi_ok && w->job.op ? w->job.op : "queue", w->path[0] ? w->path : "(spare)"));
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

// Queue `data` on libuv's thread pool; its promise settles in `complete`. NULL with an exception
// pending when it cannot be queued (the caller frees `data`).
static napi_value queue_async(napi_env env, const char* name, napi_async_execute_callback execute, napi_async_complete_callback complete, void* data,
                              napi_deferred* deferred, napi_async_work* work) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, deferred, &promise) != napi_ok || napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, NULL, resource_name, execute, complete, data, work) != napi_ok || napi_queue_async_work(env, *work) != napi_ok) {
    napi_throw_error(env, NULL, "hull_native: cannot queue work on the thread pool");
    return NULL;
  }
  return promise;
}

static napi_value netlink_netns_create_async(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct netns_work* w = calloc(1, sizeof *w);
  if (w == NULL) return hn_throw_oom(env);
  if (hn_get_args(env, info, 1, argv, "netnsCreateAsync(path)") != 0 || hn_get_string(env, argv[0], w->path, sizeof w->path, "path") != 0) {
    free(w);
    return NULL;
  }
  napi_value promise = queue_async(env, "hull:netnsCreate", netns_execute, netns_complete, w, &w->deferred, &w->work);
  if (promise == NULL) free(w);
  return promise;
}

// netnsSpareAsync() → Promise<fd>: a new network namespace (loopback down) held only by the fd,
// made on libuv's thread pool (its own thread makes it). The caller owns the fd (O_CLOEXEC).
static napi_value netlink_netns_spare_async(napi_env env, napi_callback_info info) {
  (void)info;
  struct netns_work* w = calloc(1, sizeof *w);
  if (w == NULL) return hn_throw_oom(env);
  napi_value promise = queue_async(env, "hull:netnsSpare", netns_execute, netns_complete, w, &w->deferred, &w->work);
  if (promise == NULL) free(w);
  return promise;
}

// netnsAttach(fd, path): the namespace the fd refers to bound onto `path` (under /run/netns), as
// `ip netns attach`; EEXIST if the path is taken. The caller still owns (and closes) the fd.
static napi_value netlink_netns_attach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[HN_PATH_BUF];
  uint32_t fd;
  if (hn_get_args(env, info, 2, argv, "netnsAttach(fd, path)") != 0 || hn_get_uint32(env, argv[0], &fd, "fd") != 0 ||
      hn_get_string(env, argv[1], path, sizeof path, "path") != 0)
    return NULL;
  struct ns_job job = {.path = path, .fd = (int)fd};
  int err = do_netns_attach(&job);
  return err != 0 ? throw_op(env, err, job.op, path) : NULL;
}

// vethCreate(host, peer, peerMac, netnsPath, bridge): a veth pair, `peer` (with that MAC) in the
// namespace, `host` enslaved to the bridge and up. As `ip link add HOST type veth peer name PEER
// address MAC netns NS; ip link set HOST master BRIDGE up`.
static napi_value netlink_veth_create(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char host[IFNAMSIZ], peer[IFNAMSIZ], mac_s[32], netns[HN_PATH_BUF], bridge[IFNAMSIZ];
  if (hn_get_args(env, info, 5, argv, "vethCreate(host, peer, peerMac, netnsPath, bridge)") != 0) return NULL;
  if (hn_get_string(env, argv[0], host, sizeof host, "host") != 0 || hn_get_string(env, argv[1], peer, sizeof peer, "peer") != 0 ||
      hn_get_string(env, argv[2], mac_s, sizeof mac_s, "peerMac") != 0 || hn_get_string(env, argv[3], netns, sizeof netns, "netnsPath") != 0 ||
      hn_get_string(env, argv[4], bridge, sizeof bridge, "bridge") != 0)
    return NULL;
  unsigned char mac[6];
  if (sscanf(mac_s, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "peerMac must be a MAC address (xx:xx:xx:xx:xx:xx)");
    return NULL;
  }
  int master = (int)if_nametoindex(bridge);
  if (master == 0) return throw_op(env, -errno, "if_nametoindex", bridge);
  int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return throw_op(env, -errno, "open", netns);
  int fd = nl_open();
  if (fd < 0) {
    close(nsfd);
    return throw_op(env, fd, "socket", "NETLINK_ROUTE");
  }
  struct nlreq r;
  nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
  ((struct ifinfomsg*)NLMSG_DATA(&r.n))->ifi_family = AF_UNSPEC;
  nl_attr(&r, IFLA_IFNAME, host, strlen(host) + 1);
  struct rtattr* linkinfo = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
  nl_attr(&r, IFLA_INFO_KIND, "veth", 4);
  struct rtattr* data = nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
  // VETH_INFO_PEER carries an ifinfomsg, then the peer's own attributes.
  struct rtattr* peer_nest = nl_attr(&r, VETH_INFO_PEER, NULL, 0);
  struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
  memcpy(nl_tail(&r), &peer_ifi, sizeof peer_ifi);
  r.n.nlmsg_len += NLMSG_ALIGN(sizeof peer_ifi);
  nl_attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
  nl_attr(&r, IFLA_ADDRESS, mac, sizeof mac);
  nl_attr(&r, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
  nl_nest_end(&r, peer_nest);
  nl_nest_end(&r, data);
  nl_nest_end(&r, linkinfo);
  int err = nl_talk(fd, &r.n);
  close(nsfd);
  const char* op = "RTM_NEWLINK";
  if (err == 0) {
    int index = (int)if_nametoindex(host);
    err = index == 0 ? -errno : link_up(fd, index, master);
    op = "RTM_NEWLINK master up";
  }
  close(fd);
  return err != 0 ? throw_op(env, err, op, host) : NULL;
}

// netnsConfigure(netnsPath, dev, ip, prefix, gateway, metric): inside the namespace, as `ip -n NS
// -batch`: link set lo up; addr add IP/PREFIX broadcast + dev DEV; link set DEV up; route add
// default via GATEWAY dev DEV proto static metric METRIC.
static napi_value netlink_netns_configure(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  char netns[HN_PATH_BUF], dev[IFNAMSIZ];
  struct ns_job job = {.fn = do_netns_configure};
  if (hn_get_args(env, info, 6, argv, "netnsConfigure(netnsPath, dev, ip, prefix, gateway, metric)") != 0) return NULL;
  if (hn_get_string(env, argv[0], netns, sizeof netns, "netnsPath") != 0 || hn_get_string(env, argv[1], dev, sizeof dev, "dev") != 0 ||
      arg_ipv4(env, argv[2], &job.ip, "ip") != 0 || hn_get_uint32(env, argv[3], &job.prefix, "prefix") != 0 ||
      arg_ipv4(env, argv[4], &job.gateway, "gateway") != 0 || hn_get_uint32(env, argv[5], &job.metric, "metric") != 0)
    return NULL;
  if (job.prefix > 32) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "prefix must be 0-32");
    return NULL;
  }
  job.netns = netns;
  job.dev = dev;
  int err = run_job(&job);
  return err != 0 ? throw_op(env, err, job.op, netns) : NULL;
}

// addrDelete(netnsPath, dev, ip, prefix): `ip -n NS addr del IP/PREFIX dev DEV`.
static napi_value netlink_addr_delete(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char netns[HN_PATH_BUF], dev[IFNAMSIZ];
  struct ns_job job = {.fn = do_addr_delete};
  if (hn_get_args(env, info, 4, argv, "addrDelete(netnsPath, dev, ip, prefix)") != 0) return NULL;
  if (hn_get_string(env, argv[0], netns, sizeof netns, "netnsPath") != 0 || hn_get_string(env, argv[1], dev, sizeof dev, "dev") != 0 ||
      arg_ipv4(env, argv[2], &job.ip, "ip") != 0 || hn_get_uint32(env, argv[3], &job.prefix, "prefix") != 0)
    return NULL;
  job.netns = netns;
  job.dev = dev;
  int err = run_job(&job);
  return err != 0 ? throw_op(env, err, job.op, netns) : NULL;
}

// By index when one is given (a link of that name made since is never touched), else by name.
static int link_delete(const char* name, int index) {
  int fd = nl_open();
  if (fd < 0) return fd;
  struct nlreq r;
  nl_init(&r, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
  struct ifinfomsg* ifi = NLMSG_DATA(&r.n);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  if (index <= 0) nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  int err = nl_talk(fd, &r.n);
  close(fd);
  return err;
}

// linkDelete(name, ifindex): `ip link del NAME` in this process's namespace (a veth takes its
// peer along); with ifindex > 0 only the link with that index (the name is for messages).
static napi_value netlink_link_delete(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  uint32_t index;
  if (hn_get_args(env, info, 2, argv, "linkDelete(name, ifindex)") != 0 || hn_get_string(env, argv[0], name, sizeof name, "name") != 0 ||
      hn_get_uint32(env, argv[1], &index, "ifindex") != 0)
    return NULL;
  int err = link_delete(name, (int)index);
  return err != 0 ? throw_op(env, err, "RTM_DELLINK", name) : NULL;
}

// A call on libuv's thread pool that takes a string and a number and resolves to undefined
// (linkDeleteAsync, umount2Async): `call` runs on the pool thread and returns 0 or -errno; a
// failure rejects with op_error(op, str).
struct void_work {
  napi_async_work work;
  napi_deferred deferred;
  int (*call)(const char* str, uint32_t num);
  const char* op;
  char str[HN_PATH_BUF];
  uint32_t num;
  int err;
};

static void void_execute(napi_env env, void* data) {
  (void)env;
  struct void_work* w = data;
  w->err = w->call(w->str, w->num);
}

static void void_complete(napi_env env, napi_status status, void* data) {
  struct void_work* w = data;
  if (status == napi_ok && w->err == 0) {
    napi_value result;
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, w->deferred, result);
  } else {
    napi_reject_deferred(env, w->deferred, op_error(env, status == napi_ok ? w->err : -ECANCELED, w->op, w->str));
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

// Reads (str, num) as `usage` says (str at most str_size - 1 bytes) and queues `call` on them.
static napi_value queue_void(napi_env env, napi_callback_info info, const char* usage, const char* str_name, size_t str_size, const char* num_name,
                             int (*call)(const char*, uint32_t), const char* op, const char* resource) {
  napi_value argv[2];
  struct void_work* w = calloc(1, sizeof *w);
  if (w == NULL) return hn_throw_oom(env);
  if (hn_get_args(env, info, 2, argv, usage) != 0 || hn_get_string(env, argv[0], w->str, str_size, str_name) != 0 ||
      hn_get_uint32(env, argv[1], &w->num, num_name) != 0) {
    free(w);
    return NULL;
  }
  w->call = call;
  w->op = op;
  napi_value promise = queue_async(env, resource, void_execute, void_complete, w, &w->deferred, &w->work);
  if (promise == NULL) free(w);
  return promise;
}

static int link_delete_call(const char* name, uint32_t index) { return link_delete(name, (int)index); }

// linkDeleteAsync(name, ifindex) → Promise: the same on libuv's thread pool, for a process that serves
// others meanwhile (`hull serve`): the kernel's RCU grace period blocks only a pool thread.
static napi_value netlink_link_delete_async(napi_env env, napi_callback_info info) {
  return queue_void(env, info, "linkDeleteAsync(name, ifindex)", "name", IFNAMSIZ, "ifindex", link_delete_call, "RTM_DELLINK", "hull:linkDelete");
}

static int umount2_call(const char* target, uint32_t flags) { return umount2(target, (int)flags) == 0 ? 0 : -errno; }

// umount2Async(target, flags) → Promise: umount2(2) on libuv's thread pool. An unmount waits for
// an RCU grace period (1-10 ms here): a server (`hull serve`) that unmounts a removed container's
// root and namespace after its answer must not hold its loop meanwhile. The mount namespace is
// the process's, shared by the pool's threads. Here for queue_async and op_error.
static napi_value netlink_umount2_async(napi_env env, napi_callback_info info) {
  return queue_void(env, info, "umount2Async(target, flags)", "target", HN_PATH_BUF, "flags", umount2_call, "umount2", "hull:umount2");
}

// nftGeneration() → number | null: the nftables ruleset's generation id (NFT_MSG_GETGEN), which
// every committed ruleset change increments; null when the kernel has no nftables. A rule seen
// at generation G is still there while the generation is G.
static napi_value netlink_nft_generation(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    napi_get_null(env, &result);
    return result;
  }
  struct nlreq r;
  nl_init(&r, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, 0, sizeof(struct nfgenmsg));
  struct nfgenmsg* g = NLMSG_DATA(&r.n);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  static uint32_t seq;
  r.n.nlmsg_seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  int64_t gen = -1;
  int err = 0;
  if (sendto(fd, &r.n, r.n.nlmsg_len, 0, (struct sockaddr*)&kernel, sizeof kernel) < 0) err = -errno;
  char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  while (err == 0) {
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      err = -errno;
      break;
    }
    int left = (int)got, done = 0;
    for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != r.n.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        err = ((struct nlmsgerr*)NLMSG_DATA(h))->error;
        if (err == 0) done = 1; // the acknowledgement, after the answer
        continue;
      }
      if (h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) continue;
      int alen = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
      for (struct rtattr* a = (struct rtattr*)((char*)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg))); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if ((a->rta_type & NLA_TYPE_MASK) == NFTA_GEN_ID && RTA_PAYLOAD(a) >= 4) gen = ntohl(*(uint32_t*)RTA_DATA(a));
      }
    }
    if (done || err != 0) break;
  }
  close(fd);
  if (err != 0 || gen < 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_create_int64(env, gen, &result);
  return result;
}

napi_status netlink_define(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      HN_METHOD("netnsCreate", netlink_netns_create),
      HN_METHOD("netnsCreateAsync", netlink_netns_create_async),
      HN_METHOD("vethCreate", netlink_veth_create),
      HN_METHOD("netnsConfigure", netlink_netns_configure),
      HN_METHOD("addrDelete", netlink_addr_delete),
      HN_METHOD("linkDelete", netlink_link_delete),
      HN_METHOD("linkDeleteAsync", netlink_link_delete_async),
      HN_METHOD("nftGeneration", netlink_nft_generation),
      HN_METHOD("umount2Async", netlink_umount2_async),
      HN_METHOD("netnsSpareAsync", netlink_netns_spare_async),
      HN_METHOD("netnsAttach", netlink_netns_attach),
  };
  return HN_DEFINE(env, exports, props);
}
