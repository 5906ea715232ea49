// Kernel system-call ABI probe for the seccomp filter; see abi-probe.c.
#ifndef HULL_ABI_PROBE_H
#define HULL_ABI_PROBE_H
#include "napi-util.h"

// Adds this file's functions to the addon's exports.
napi_status abi_probe_define(napi_env env, napi_value exports);
#endif
