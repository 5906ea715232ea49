// What `exec` into a container whose seccomp filter hull loads itself needs
// (src/container/seccomp-filter.ts): runc then starts hull's helper, not the command.
// lookPathIn(pid, cwd, file, pathEnv): Go's exec.LookPath (native/seccomp/lookpath.h) where
// `runc exec` would run it: in the mount namespace of process `pid` (the container's init),
// from that namespace's root (which is not /proc/PID/root when the init chrooted), relative
// names against `cwd`; null when found, else { status, message }, so that the engine fails the
// exec with runc's own words.
// sealedCopy(path, name, exec): a sealed memfd copy of a file (native/seccomp/sealed-copy.h),
// close-on-exec, for runc to hand the helper.
#define _GNU_SOURCE // setns, CLONE_NEWNS
#include "napi-util.h"
#include "seccomp-napi.h"
#include "seccomp/lookpath.h"
#include "seccomp/sealed-copy.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// The look-up in a vfork child that joins the namespace (setns needs a process that shares its
// filesystem attributes with no other: the child has its own, and node stays where it is). It
// shares node's memory, so it writes its answer straight into the caller's buffers; it makes
// system calls only, no allocation. 0 also when the look-up cannot be made (the container is
// gone, the working directory is not there): `runc exec` then fails with its own words, and the
// helper looks the command up again before its execve in any case.
static int look_path_in_mount_ns(int pid, const char* cwd, const char* file, const char* path_env, char* err, size_t err_len) {
  char ns[64], found[4096];
  snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", pid);
  int fd = open(ns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  volatile int status = 0;
  pid_t child = vfork();
  if (child == 0) {
    if (setns(fd, CLONE_NEWNS) == 0 && chdir(cwd[0] ? cwd : "/") == 0)
      status = look_path(-1, NULL, file, path_env, found, sizeof found, err, err_len);
    _exit(0);
  }
  close(fd);
  if (child < 0) return 0;
  int ws;
  while (waitpid(child, &ws, __WALL) < 0 && errno == EINTR) {
  }
  return status;
}

static napi_value js_look_path_in(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (hn_get_args(env, info, 4, argv, "lookPathIn(pid, cwd, file, pathEnv)") != 0) return NULL;
  int32_t pid;
  char cwd[HN_PATH_BUF], file[HN_PATH_BUF], path_env[8192];
  if (hn_get_int32(env, argv[0], &pid, "pid") != 0) return NULL;
  if (hn_get_string(env, argv[1], cwd, sizeof cwd, "cwd") != 0) return NULL;
  if (hn_get_string(env, argv[2], file, sizeof file, "file") != 0) return NULL;
  if (hn_get_string(env, argv[3], path_env, sizeof path_env, "pathEnv") != 0) return NULL;
  char err[4400];
  int status = look_path_in_mount_ns(pid, cwd, file, path_env, err, sizeof err);
  napi_value out, v;
  if (status == 0) {
    HN_CHECK(env, napi_get_null(env, &out));
    return out;
  }
  HN_CHECK(env, napi_create_object(env, &out));
  HN_CHECK(env, napi_create_int32(env, status, &v));
  HN_CHECK(env, napi_set_named_property(env, out, "status", v));
  HN_CHECK(env, napi_create_string_utf8(env, err, NAPI_AUTO_LENGTH, &v));
  HN_CHECK(env, napi_set_named_property(env, out, "message", v));
  return out;
}

static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (hn_get_args(env, info, 3, argv, "sealedCopy(path, name, exec)") != 0) return NULL;
  char path[HN_PATH_BUF], name[HN_NAME_BUF];
  bool exec;
  if (hn_get_string(env, argv[0], path, sizeof path, "path") != 0) return NULL;
  if (hn_get_string(env, argv[1], name, sizeof name, "name") != 0) return NULL;
  HN_CHECK(env, napi_get_value_bool(env, argv[2], &exec));
  int fd = sealed_copy(path, name, exec);
  if (fd < 0) return hn_throw_errno(env, -errno, "memfd_create", path, true);
  napi_value out;
  HN_CHECK(env, napi_create_int32(env, fd, &out));
  return out;
}

napi_status seccomp_napi_define(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      HN_METHOD("lookPathIn", js_look_path_in),
      HN_METHOD("sealedCopy", js_sealed_copy),
  };
  return HN_DEFINE(env, exports, props);
}
