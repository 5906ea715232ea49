// What `exec` into a container whose seccomp filter hull loads itself needs
// (src/container/seccomp-filter.ts): runc then starts hull's helper, not the command.
// lookPathIn(pid, cwd, file, pathEnv): Go's exec.LookPath inside the container's root
// (native/seccomp/lookpath.h), so the engine checks the command first and fails the exec with
// runc's own words; null when found, else { status, message }.
// sealedCopy(path, name, exec): a sealed memfd copy of a file (native/seccomp/sealed-copy.h),
// close-on-exec, for runc to hand the helper.
#include "napi-util.h"
#include "seccomp-napi.h"
#include "seccomp/lookpath.h"
#include "seccomp/sealed-copy.h"

#include <errno.h>

static napi_value js_look_path_in(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (hn_get_args(env, info, 4, argv, "lookPathIn(pid, cwd, file, pathEnv)") != 0) return NULL;
  int32_t pid;
  char cwd[HN_PATH_BUF], file[HN_PATH_BUF], path_env[8192];
  if (hn_get_int32(env, argv[0], &pid, "pid") != 0) return NULL;
  if (hn_get_string(env, argv[1], cwd, sizeof cwd, "cwd") != 0) return NULL;
  if (hn_get_string(env, argv[2], file, sizeof file, "file") != 0) return NULL;
  if (hn_get_string(env, argv[3], path_env, sizeof path_env, "pathEnv") != 0) return NULL;
  char found[4096], err[4400];
  int status = look_path_in_process(pid, cwd, file, path_env, found, sizeof found, err, sizeof err);
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
