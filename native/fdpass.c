// fd passing for hull's CLI server (src/cli/server/): the warm worker receives the client's
// connection from the supervisor and the client's stdio fds from the client, both over unix
// sockets with SCM_RIGHTS, then puts those fds on 0/1/2. Node has no API for any of this.
//
// Messages on these sockets are length-prefixed: a 4-byte little-endian payload length, then
// the payload; the fds ride on the first sendmsg. All calls are synchronous: the worker has
// nothing else to do while it waits, and the supervisor only sends a few bytes.
#define _GNU_SOURCE
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 8
// Far above any argv + environment the kernel allows one exec (ARG_MAX is 2 MiB by default
// but the real limit is a quarter of the stack rlimit); a larger claim is a protocol error.
#define MAX_MSG (16 * 1024 * 1024)

// A failed syscall, thrown as Node would (err is a positive errno); no path is involved.
static napi_value throw_sys(napi_env env, int err, const char* syscall) {
  return hn_throw_errno(env, -err, syscall, NULL, false);
}

// Waits until fd is readable/writable; timeout_ms < 0 waits forever. 0 ready, -1 errno set.
static int wait_fd(int fd, short events, long long deadline_ms, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    int t = -1;
    if (timeout_ms >= 0) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
      t = now >= deadline_ms ? 0 : (int)(deadline_ms - now);
    }
    int r = poll(&p, 1, t);
    if (r > 0) return 0;
    if (r == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    if (errno != EINTR) return -1;
  }
}

static long long deadline_after(int timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (timeout_ms < 0 ? 0 : timeout_ms);
}

// socketpair(): [fd, fd], SOCK_STREAM, close-on-exec (child_process dups what it passes on).
static napi_value fdpass_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return throw_sys(env, errno, "socketpair");
  napi_value arr, v;
  napi_create_array_with_length(env, 2, &arr);
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, sv[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// sendFds(fd, payload: Buffer, fds: number[]): one length-prefixed message, fds attached.
static napi_value fdpass_send(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (hn_get_args(env, info, 3, argv, "sendFds(fd, payload, fds)") != 0) return NULL;
  int32_t fd;
  if (hn_get_int32(env, argv[0], &fd, "fd") != 0) return NULL;
  void* data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len > MAX_MSG) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "payload must be a Buffer of at most 16 MiB");
    return NULL;
  }
  uint32_t nfds;
  if (napi_get_array_length(env, argv[2], &nfds) != napi_ok || nfds > MAX_FDS) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of at most 8 fds");
    return NULL;
  }
  int fds[MAX_FDS];
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    if (hn_get_int32(env, v, &fds[i], "fds[i]") != 0) return NULL;
  }
  unsigned char hdr[4] = {len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff};
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } u;
  struct iovec iov[2] = {{hdr, 4}, {data, len}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  if (nfds > 0) {
    memset(&u, 0, sizeof u);
    msg.msg_control = u.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  size_t total = 4 + len, sent = 0;
  long long deadline = deadline_after(5000);
  while (sent < total) {
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && wait_fd(fd, POLLOUT, deadline, 5000) == 0) continue;
      return throw_sys(env, errno, "sendmsg");
    }
    sent += (size_t)n;
    // Only the first chunk carries the fds; advance the iovecs past what was sent.
    msg.msg_control = NULL;
    msg.msg_controllen = 0;
    size_t skip = (size_t)n;
    for (size_t i = 0; i < msg.msg_iovlen && skip > 0; i++) {
      size_t take = skip < msg.msg_iov[i].iov_len ? skip : msg.msg_iov[i].iov_len;
      msg.msg_iov[i].iov_base = (char*)msg.msg_iov[i].iov_base + take;
      msg.msg_iov[i].iov_len -= take;
      skip -= take;
    }
  }
  return NULL;
}

// Reads exactly n bytes (collecting any fds into fds/nfds); 1 done, 0 EOF at start, -1 errno.
static int recv_exact(int fd, unsigned char* buf, size_t n, int* fds, int* nfds, long long deadline, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    union {
      char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
      struct cmsghdr align;
    } u;
    struct iovec iov = {buf + got, n - got};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && wait_fd(fd, POLLIN, deadline, timeout_ms) == 0) continue;
      return -1;
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int* in = (int*)CMSG_DATA(c);
      for (int i = 0; i < k; i++) {
        if (*nfds < MAX_FDS) fds[(*nfds)++] = in[i];
        else close(in[i]);
      }
    }
    if (r == 0) {
      if (got == 0) return 0;
      errno = ECONNRESET;
      return -1;
    }
    got += (size_t)r;
  }
  return 1;
}

// recvFds(fd, timeoutMs): one message from sendFds, as { data: Buffer, fds: number[] } (fds
// close-on-exec), or null when the peer closed before sending anything. timeoutMs < 0 waits
// forever; on a timeout it throws ETIMEDOUT.
static napi_value fdpass_recv(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (hn_get_args(env, info, 2, argv, "recvFds(fd, timeoutMs)") != 0) return NULL;
  int32_t fd, timeout_ms;
  if (hn_get_int32(env, argv[0], &fd, "fd") != 0 || hn_get_int32(env, argv[1], &timeout_ms, "timeoutMs") != 0) return NULL;
  long long deadline = deadline_after(timeout_ms);
  int fds[MAX_FDS], nfds = 0;
  unsigned char hdr[4];
  unsigned char* data = NULL;
  int r = recv_exact(fd, hdr, 4, fds, &nfds, deadline, timeout_ms);
  size_t len = 0;
  if (r == 1) {
    len = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
    if (len > MAX_MSG) {
      errno = EMSGSIZE;
      r = -1;
    } else if ((data = malloc(len ? len : 1)) == NULL) {
      errno = ENOMEM;
      r = -1;
    } else if (len > 0 && (r = recv_exact(fd, data, len, fds, &nfds, deadline, timeout_ms)) == 0) {
      errno = ECONNRESET;
      r = -1;
    }
  }
  if (r != 1) {
    int err = errno;
    free(data);
    for (int i = 0; i < nfds; i++) close(fds[i]);
    if (r == 0) {
      napi_value null;
      napi_get_null(env, &null);
      return null;
    }
    return throw_sys(env, err, "recvmsg");
  }
  napi_value result, buf, arr, v;
  void* copy;
  napi_create_buffer_copy(env, len, data, &copy, &buf);
  free(data);
  napi_create_array_with_length(env, (size_t)nfds, &arr);
  for (int i = 0; i < nfds; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", buf);
  napi_set_named_property(env, result, "fds", arr);
  return result;
}

// dup2(oldfd, newfd): the copy on newfd is inheritable (dup2 clears close-on-exec), as stdio must be.
static napi_value fdpass_dup2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t a, b;
  if (hn_get_args(env, info, 2, argv, "dup2(oldfd, newfd)") != 0 || hn_get_int32(env, argv[0], &a, "oldfd") != 0 ||
      hn_get_int32(env, argv[1], &b, "newfd") != 0)
    return NULL;
  while (dup2(a, b) < 0) {
    if (errno != EINTR) return throw_sys(env, errno, "dup2");
  }
  return NULL;
}

// closeFd(fd): close(2) on a raw fd that no Node handle owns.
static napi_value fdpass_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (hn_get_args(env, info, 1, argv, "closeFd(fd)") != 0 || hn_get_int32(env, argv[0], &fd, "fd") != 0) return NULL;
  if (close(fd) != 0 && errno != EINTR) return throw_sys(env, errno, "close");
  return NULL;
}

// flockExclusive(fd): a non-blocking exclusive flock; false when another process holds it.
static napi_value fdpass_flock(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  if (hn_get_args(env, info, 1, argv, "flockExclusive(fd)") != 0 || hn_get_int32(env, argv[0], &fd, "fd") != 0) return NULL;
  int r;
  while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (r != 0 && errno != EWOULDBLOCK) return throw_sys(env, errno, "flock");
  napi_get_boolean(env, r == 0, &out);
  return out;
}

napi_status fdpass_define(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      HN_METHOD("socketpair", fdpass_socketpair),
      HN_METHOD("sendFds", fdpass_send),
      HN_METHOD("recvFds", fdpass_recv),
      HN_METHOD("dup2", fdpass_dup2),
      HN_METHOD("closeFd", fdpass_close),
      HN_METHOD("flockExclusive", fdpass_flock),
  };
  return HN_DEFINE(env, exports, props);
}
