// fd passing for hull's CLI server; see fdpass.c.
#ifndef HULL_FDPASS_H
#define HULL_FDPASS_H
#include "napi-util.h"

napi_value fdpass_socketpair(napi_env env, napi_callback_info info);
napi_value fdpass_send(napi_env env, napi_callback_info info);
napi_value fdpass_recv(napi_env env, napi_callback_info info);
napi_value fdpass_dup2(napi_env env, napi_callback_info info);
napi_value fdpass_close(napi_env env, napi_callback_info info);
napi_value fdpass_flock(napi_env env, napi_callback_info info);

#define FDPASS_PROPERTIES                     \
  HN_METHOD("socketpair", fdpass_socketpair), \
      HN_METHOD("sendFds", fdpass_send),      \
      HN_METHOD("recvFds", fdpass_recv),      \
      HN_METHOD("dup2", fdpass_dup2),         \
      HN_METHOD("closeFd", fdpass_close),     \
      HN_METHOD("flockExclusive", fdpass_flock)
#endif
