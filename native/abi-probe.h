// Kernel system-call ABI probe for the seccomp filter; see abi-probe.c.
#ifndef HULL_ABI_PROBE_H
#define HULL_ABI_PROBE_H
#define NAPI_VERSION 8
#include <node_api.h>

napi_value abi_probe_kernel_abis(napi_env env, napi_callback_info info);

#define ABI_PROBE_PROPERTIES {"kernelAbis", NULL, abi_probe_kernel_abis, NULL, NULL, NULL, napi_enumerable, NULL}
#endif
