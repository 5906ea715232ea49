// fd passing for hull's CLI server; see fdpass.c.
#ifndef HULL_FDPASS_H
#define HULL_FDPASS_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

napi_value fdpass_socketpair(napi_env env, napi_callback_info info);
napi_value fdpass_send(napi_env env, napi_callback_info info);
napi_value fdpass_recv(napi_env env, napi_callback_info info);
napi_value fdpass_dup2(napi_env env, napi_callback_info info);
napi_value fdpass_close(napi_env env, napi_callback_info info);
napi_value fdpass_flock(napi_env env, napi_callback_info info);

#define FDPASS_PROPERTIES                                                                   \
  {"socketpair", NULL, fdpass_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},       \
      {"sendFds", NULL, fdpass_send, NULL, NULL, NULL, napi_enumerable, NULL},            \
      {"recvFds", NULL, fdpass_recv, NULL, NULL, NULL, napi_enumerable, NULL},            \
      {"dup2", NULL, fdpass_dup2, NULL, NULL, NULL, napi_enumerable, NULL},               \
      {"closeFd", NULL, fdpass_close, NULL, NULL, NULL, napi_enumerable, NULL},           \
      {"flockExclusive", NULL, fdpass_flock, NULL, NULL, NULL, napi_enumerable, NULL}
#endif
