// N-API helpers shared by the addon's files; see napi-util.h.
#include "napi-util.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

napi_value hn_errno_error(napi_env env, int err, const char* syscall, const char* what, bool what_is_path) {
  const char* code = uv_err_name(err);
  // Long enough for any `what` the addon passes (paths up to HN_PATH_BUF); snprintf cuts the rest.
  char msg[HN_PATH_BUF + 256];
  if (what != NULL) snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, uv_strerror(err), syscall, what);
  else snprintf(msg, sizeof msg, "%s: %s, %s", code, uv_strerror(err), syscall);

  napi_value message, error, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "code", v);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  if (what_is_path && what != NULL) {
    napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "path", v);
  }
  return error;
}

napi_value hn_throw_errno(napi_env env, int err, const char* syscall, const char* what, bool what_is_path) {
  napi_throw(env, hn_errno_error(env, err, syscall, what, what_is_path));
  return NULL;
}

napi_value hn_throw_oom(napi_env env) {
  napi_throw_error(env, NULL, "hull_native: out of memory");
  return NULL;
}

int hn_get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv, const char* usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", usage);
    return -1;
  }
  return 0;
}

int hn_get_string(napi_env env, napi_value value, char* buf, size_t size, const char* what) {
  size_t len;
  char msg[96];
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  if (len >= size) {
    snprintf(msg, sizeof msg, "%s is too long", what);
    napi_throw_range_error(env, "ENAMETOOLONG", msg);
    return -1;
  }
  napi_get_value_string_utf8(env, value, buf, size, &len);
  if (strlen(buf) != len) {
    // An embedded NUL would silently truncate the string the kernel sees.
    snprintf(msg, sizeof msg, "%s must not contain NUL bytes", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return -1;
  }
  return 0;
}

static int not_a_number(napi_env env, const char* what) {
  char msg[64];
  snprintf(msg, sizeof msg, "%s must be a number", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return -1;
}

int hn_get_uint32(napi_env env, napi_value value, uint32_t* out, const char* what) {
  return napi_get_value_uint32(env, value, out) == napi_ok ? 0 : not_a_number(env, what);
}

int hn_get_int32(napi_env env, napi_value value, int32_t* out, const char* what) {
  return napi_get_value_int32(env, value, out) == napi_ok ? 0 : not_a_number(env, what);
}
