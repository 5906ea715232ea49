// What `exec` into a container whose seccomp filter hull loads itself needs
// (src/container/seccomp-filter.ts): runc then starts hull's helper, not the command.
// lookPathIn(pid, cwd, file, pathEnv, uid, gid, groups, caps): Go's exec.LookPath where and as
// `runc exec` would run it (look_path_as in native/seccomp/lookpath.h: the mount namespace of
// `pid`, the exec's user, groups and effective capabilities as a hex mask); null when found
// (or when it cannot tell), else { status, message }, so that the engine fails the exec with
// runc's own words.
// sealedCopy(path, name, exec): a sealed memfd copy of a file (native/seccomp/sealed-copy.h),
// close-on-exec, for runc to hand the helper.
#include "napi-util.h"
#include "seccomp-napi.h"
#include "seccomp/lookpath.h"
#include "seccomp/sealed-copy.h"

#include <errno.h>
#include <stdlib.h>

static napi_value js_look_path_in(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (hn_get_args(env, info, 8, argv, "lookPathIn(pid, cwd, file, pathEnv, uid, gid, groups, caps)") != 0) return NULL;
  int32_t pid;
  uint32_t uid, gid, n_groups;
  char cwd[HN_PATH_BUF], file[HN_PATH_BUF], path_env[8192], caps[32];
  if (hn_get_int32(env, argv[0], &pid, "pid") != 0) return NULL;
  if (hn_get_string(env, argv[1], cwd, sizeof cwd, "cwd") != 0) return NULL;
  if (hn_get_string(env, argv[2], file, sizeof file, "file") != 0) return NULL;
  if (hn_get_string(env, argv[3], path_env, sizeof path_env, "pathEnv") != 0) return NULL;
  if (hn_get_uint32(env, argv[4], &uid, "uid") != 0) return NULL;
  if (hn_get_uint32(env, argv[5], &gid, "gid") != 0) return NULL;
  HN_CHECK(env, napi_get_array_length(env, argv[6], &n_groups));
  if (n_groups > 256) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "groups: at most 256");
    return NULL;
  }
  unsigned groups[256];
  for (uint32_t i = 0; i < n_groups; i++) {
    napi_value g;
    HN_CHECK(env, napi_get_element(env, argv[6], i, &g));
    if (hn_get_uint32(env, g, &groups[i], "groups[i]") != 0) return NULL;
  }
  if (hn_get_string(env, argv[7], caps, sizeof caps, "caps") != 0) return NULL;
  struct lookup_creds creds = {.uid = uid, .gid = gid, .n_groups = (int)n_groups, .groups = groups, .caps = strtoull(caps, NULL, 16)};
  char err[4400];
  int status = look_path_as(pid, &creds, cwd, file, path_env, err, sizeof err);
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
