// fd passing for hull's CLI server; see fdpass.c.
#ifndef HULL_FDPASS_H
#define HULL_FDPASS_H
#include "napi-util.h"

// Adds this file's functions to the addon's exports.
napi_status fdpass_define(napi_env env, napi_value exports);
#endif
