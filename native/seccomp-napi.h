// The engine's side of exec into a container with a precompiled seccomp filter; see seccomp-napi.c.
#ifndef HULL_SECCOMP_NAPI_H
#define HULL_SECCOMP_NAPI_H
#include "napi-util.h"

// Adds this file's functions to the addon's exports.
napi_status seccomp_napi_define(napi_env env, napi_value exports);
#endif
