// Network namespaces and rtnetlink for the default bridge's fast path; see netlink.c.
#ifndef HULL_NETLINK_H
#define HULL_NETLINK_H
#include "napi-util.h"

// Adds this file's functions to the addon's exports.
napi_status netlink_define(napi_env env, napi_value exports);
#endif
