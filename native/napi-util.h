// N-API helpers shared by every file of the hull_native addon (hull_native.c, fdpass.c,
// netlink.c, abi-probe.c): argument checks that throw Node-style TypeErrors, and errors shaped
// like Node's own fs errors. The C monitor and the VM guest init are separate programs, not
// N-API code: they do not use this.
#ifndef HULL_NAPI_UTIL_H
#define HULL_NAPI_UTIL_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Paths are bounded by PATH_MAX (4096) and xattr names by XATTR_NAME_MAX (255); anything
// longer fails in the kernel anyway, so a fixed buffer plus an explicit ENAMETOOLONG suffices.
#define HN_PATH_BUF 4097
#define HN_NAME_BUF 256

// One exported function's property descriptor, and a whole array of them added to exports.
#define HN_METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
#define HN_DEFINE(env, exports, props) napi_define_properties((env), (exports), sizeof(props) / sizeof((props)[0]), (props))

// Returns NULL from the calling function, with an Error thrown, when an N-API call fails.
#define HN_CHECK(env, call)                                                     \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), NULL, "hull_native: N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

// The Error for a failed call, shaped like Node's: message "CODE: description, SYSCALL 'WHAT'"
// (no " 'WHAT'" when what is NULL), with code, errno and syscall; and path (= what) when
// what_is_path. err is -errno, libuv's convention (UV_ENOENT == -ENOENT on Linux), so that
// err.errno compares equal to Node's own.
napi_value hn_errno_error(napi_env env, int err, const char* syscall, const char* what, bool what_is_path);

// Throws hn_errno_error(...); returns NULL for `return hn_throw_errno(...)`.
napi_value hn_throw_errno(napi_env env, int err, const char* syscall, const char* what, bool what_is_path);

// Throws "hull_native: out of memory"; returns NULL.
napi_value hn_throw_oom(napi_env env);

// Fetches exactly `want` arguments into argv; 0, or -1 with ERR_MISSING_ARGS (`usage`) thrown.
int hn_get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv, const char* usage);

// Copies a JS string into buf (size bytes with its NUL, so at most size - 1 of text); 0, or -1
// with a TypeError (not a string, an embedded NUL) or a RangeError (ENAMETOOLONG) thrown.
int hn_get_string(napi_env env, napi_value value, char* buf, size_t size, const char* what);

// A JS number as uint32/int32; 0, or -1 with ERR_INVALID_ARG_TYPE thrown.
int hn_get_uint32(napi_env env, napi_value value, uint32_t* out, const char* what);
int hn_get_int32(napi_env env, napi_value value, int32_t* out, const char* what);
#endif
