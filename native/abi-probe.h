// Kernel system-call ABI probe for the seccomp filter; see abi-probe.c.
#ifndef HULL_ABI_PROBE_H
#define HULL_ABI_PROBE_H
#include "napi-util.h"

napi_value abi_probe_kernel_abis(napi_env env, napi_callback_info info);

#define ABI_PROBE_PROPERTIES HN_METHOD("kernelAbis", abi_probe_kernel_abis)
#endif
