// The few syscalls hull needs that Node's fs module does not expose: mknod (device nodes,
// fifos and overlayfs whiteouts in layer directories), the l*xattr family (file
// capabilities, SELinux labels and overlayfs' trusted.overlay.opaque), and mount/umount2
// (container root filesystems: spawning mount(8) per container costs milliseconds). All calls are
// synchronous: each is a single cheap syscall, far cheaper than a thread-pool round trip.
//
// Failures throw errors shaped like Node's own fs errors (message "EPERM: operation not
// permitted, mknod '/x'", plus code, errno, syscall, path) so callers handle both alike.
#define _GNU_SOURCE // posix_openpt, ptsname_r
#include "napi-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "abi-probe.h"
#include "fdpass.h"
#include "seccomp-napi.h"
#include "netlink.h"

// A failed syscall on `path`, thrown as Node's fs module would (err is a positive errno).
static napi_value throw_errno(napi_env env, int err, const char* syscall, const char* path) {
  return hn_throw_errno(env, -err, syscall, path, true);
}

// mknod(path, mode, major, minor): mode includes the file type bits (S_IFCHR, S_IFBLK,
// S_IFIFO). The process umask applies, as for mknod(2); callers chmod afterwards.
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (hn_get_args(env, info, 4, argv, "mknod(path, mode, major, minor)") != 0) return NULL;
  char path[HN_PATH_BUF];
  uint32_t mode, major_n, minor_n;
  if (hn_get_string(env, argv[0], path, sizeof path, "path") != 0) return NULL;
  if (hn_get_uint32(env, argv[1], &mode, "mode") != 0) return NULL;
  if (hn_get_uint32(env, argv[2], &major_n, "major") != 0) return NULL;
  if (hn_get_uint32(env, argv[3], &minor_n, "minor") != 0) return NULL;
  if (mknod(path, (mode_t)mode, makedev(major_n, minor_n)) != 0) return throw_errno(env, errno, "mknod", path);
  return NULL;
}

// lsetxattr(path, name, value): never follows a final symlink (the xattr lands on the link).
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (hn_get_args(env, info, 3, argv, "lsetxattr(path, name, value)") != 0) return NULL;
  char path[HN_PATH_BUF], name[HN_NAME_BUF];
  if (hn_get_string(env, argv[0], path, sizeof path, "path") != 0) return NULL;
  if (hn_get_string(env, argv[1], name, sizeof name, "name") != 0) return NULL;
  bool is_buffer;
  HN_CHECK(env, napi_is_buffer(env, argv[2], &is_buffer));
  if (!is_buffer) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "value must be a Buffer");
    return NULL;
  }
  void* data;
  size_t len;
  HN_CHECK(env, napi_get_buffer_info(env, argv[2], &data, &len));
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return NULL;
}

// lgetxattr(path, name) -> Buffer, or null when the attribute is not set (ENODATA).
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (hn_get_args(env, info, 2, argv, "lgetxattr(path, name)") != 0) return NULL;
  char path[HN_PATH_BUF], name[HN_NAME_BUF];
  if (hn_get_string(env, argv[0], path, sizeof path, "path") != 0) return NULL;
  if (hn_get_string(env, argv[1], name, sizeof name, "name") != 0) return NULL;

  // The value can change size between the probe and the read; retry on ERANGE.
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) {
      if (errno == ENODATA) {
        napi_value null_value;
        HN_CHECK(env, napi_get_null(env, &null_value));
        return null_value;
      }
      return throw_errno(env, errno, "lgetxattr", path);
    }
    char* buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      return hn_throw_oom(env);
    }
    ssize_t got = lgetxattr(path, name, buf, (size_t)size);
    if (got < 0) {
      int err = errno;
      free(buf);
      if (err == ERANGE) continue;
      if (err == ENODATA) {
        napi_value null_value;
        HN_CHECK(env, napi_get_null(env, &null_value));
        return null_value;
      }
      return throw_errno(env, err, "lgetxattr", path);
    }
    napi_value result;
    napi_status status = napi_create_buffer_copy(env, (size_t)got, buf, NULL, &result);
    free(buf);
    HN_CHECK(env, status);
    return result;
  }
}

// llistxattr(path) -> string[] of attribute names (only those the caller may see).
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (hn_get_args(env, info, 1, argv, "llistxattr(path)") != 0) return NULL;
  char path[HN_PATH_BUF];
  if (hn_get_string(env, argv[0], path, sizeof path, "path") != 0) return NULL;

  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) return throw_errno(env, errno, "llistxattr", path);
    char* buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      return hn_throw_oom(env);
    }
    ssize_t got = llistxattr(path, buf, (size_t)size);
    if (got < 0) {
      int err = errno;
      free(buf);
      if (err == ERANGE) continue;
      return throw_errno(env, err, "llistxattr", path);
    }
    napi_value result;
    if (napi_create_array(env, &result) != napi_ok) {
      free(buf);
      napi_throw_error(env, NULL, "hull_native: N-API call failed: napi_create_array");
      return NULL;
    }
    // The kernel returns the names NUL-separated, each terminated.
    uint32_t index = 0;
    for (ssize_t off = 0; off < got;) {
      size_t len = strnlen(buf + off, (size_t)(got - off));
      napi_value name;
      if (napi_create_string_utf8(env, buf + off, len, &name) != napi_ok ||
          napi_set_element(env, result, index++, name) != napi_ok) {
        free(buf);
        napi_throw_error(env, NULL, "hull_native: N-API call failed building the name list");
        return NULL;
      }
      off += (ssize_t)len + 1;
    }
    free(buf);
    return result;
  }
}

// mount(source, target, fstype, flags, data): data is the filesystem's option string (for
// overlayfs the lowerdir/upperdir/workdir list, bounded by the kernel at one page).
#define DATA_BUF 4097
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (hn_get_args(env, info, 5, argv, "mount(source, target, fstype, flags, data)") != 0) return NULL;
  char source[HN_PATH_BUF], target[HN_PATH_BUF], fstype[HN_NAME_BUF];
  static char data[DATA_BUF];
  uint32_t flags;
  if (hn_get_string(env, argv[0], source, sizeof source, "source") != 0) return NULL;
  if (hn_get_string(env, argv[1], target, sizeof target, "target") != 0) return NULL;
  if (hn_get_string(env, argv[2], fstype, sizeof fstype, "fstype") != 0) return NULL;
  if (hn_get_uint32(env, argv[3], &flags, "flags") != 0) return NULL;
  if (hn_get_string(env, argv[4], data, sizeof data, "data") != 0) return NULL;
  if (mount(source, target, fstype, flags, data) != 0) return throw_errno(env, errno, "mount", target);
  return NULL;
}

// umount2(target, flags): flags such as MNT_DETACH (2).
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (hn_get_args(env, info, 2, argv, "umount2(target, flags)") != 0) return NULL;
  char target[HN_PATH_BUF];
  uint32_t flags;
  if (hn_get_string(env, argv[0], target, sizeof target, "target") != 0) return NULL;
  if (hn_get_uint32(env, argv[1], &flags, "flags") != 0) return NULL;
  if (umount2(target, (int)flags) != 0) return throw_errno(env, errno, "umount2", target);
  return NULL;
}

// openpty() → [master, slave]: a terminal for `runc exec -t` run by the API server, which has
// no terminal of its own (runc in the foreground takes its host console from its stdio). Both
// close-on-exec: the slave becomes runc's stdio through dup2, the master stays with hull. The
// slave is raw: the process's own pty inside the container already did the line discipline.
static napi_value js_openpty(napi_env env, napi_callback_info info) {
  (void)info;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return throw_errno(env, errno, "posix_openpt", "/dev/ptmx");
  char name[128];
  if (grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, name, sizeof name) != 0) {
    int err = errno;
    close(master);
    return throw_errno(env, err, "unlockpt", "/dev/ptmx");
  }
  int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int err = errno;
    close(master);
    return throw_errno(env, err, "open", name);
  }
  struct termios t;
  if (tcgetattr(slave, &t) == 0) {
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
  }
  napi_value result, m, sl;
  HN_CHECK(env, napi_create_array_with_length(env, 2, &result));
  HN_CHECK(env, napi_create_int32(env, master, &m));
  HN_CHECK(env, napi_create_int32(env, slave, &sl));
  HN_CHECK(env, napi_set_element(env, result, 0, m));
  HN_CHECK(env, napi_set_element(env, result, 1, sl));
  return result;
}

// setWinsize(fd, rows, cols): TIOCSWINSZ on a terminal.
static napi_value js_set_winsize(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (hn_get_args(env, info, 3, argv, "setWinsize(fd, rows, cols)") != 0) return NULL;
  uint32_t fd, rows, cols;
  if (hn_get_uint32(env, argv[0], &fd, "fd") != 0) return NULL;
  if (hn_get_uint32(env, argv[1], &rows, "rows") != 0) return NULL;
  if (hn_get_uint32(env, argv[2], &cols, "cols") != 0) return NULL;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl((int)fd, TIOCSWINSZ, &ws) != 0) return throw_errno(env, errno, "ioctl", "TIOCSWINSZ");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      HN_METHOD("mknod", js_mknod),
      HN_METHOD("lsetxattr", js_lsetxattr),
      HN_METHOD("lgetxattr", js_lgetxattr),
      HN_METHOD("llistxattr", js_llistxattr),
      HN_METHOD("mount", js_mount),
      HN_METHOD("umount2", js_umount2),
      HN_METHOD("openpty", js_openpty),
      HN_METHOD("setWinsize", js_set_winsize),
  };
  HN_CHECK(env, HN_DEFINE(env, exports, props));
  HN_CHECK(env, fdpass_define(env, exports));
  HN_CHECK(env, netlink_define(env, exports));
  HN_CHECK(env, abi_probe_define(env, exports));
  HN_CHECK(env, seccomp_napi_define(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
