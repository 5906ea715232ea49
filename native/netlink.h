// Network namespaces and rtnetlink for the default bridge's fast path; see netlink.c.
#ifndef HULL_NETLINK_H
#define HULL_NETLINK_H
#include "napi-util.h"

napi_value netlink_netns_create(napi_env env, napi_callback_info info);
napi_value netlink_veth_create(napi_env env, napi_callback_info info);
napi_value netlink_netns_configure(napi_env env, napi_callback_info info);
napi_value netlink_addr_delete(napi_env env, napi_callback_info info);
napi_value netlink_link_delete(napi_env env, napi_callback_info info);
napi_value netlink_link_delete_async(napi_env env, napi_callback_info info);
napi_value netlink_netns_create_async(napi_env env, napi_callback_info info);
napi_value netlink_nft_generation(napi_env env, napi_callback_info info);
napi_value netlink_umount2_async(napi_env env, napi_callback_info info);
napi_value netlink_netns_spare_async(napi_env env, napi_callback_info info);
napi_value netlink_netns_attach(napi_env env, napi_callback_info info);

#define NETLINK_PROPERTIES                                       \
  HN_METHOD("netnsCreate", netlink_netns_create),                \
      HN_METHOD("netnsCreateAsync", netlink_netns_create_async), \
      HN_METHOD("vethCreate", netlink_veth_create),              \
      HN_METHOD("netnsConfigure", netlink_netns_configure),      \
      HN_METHOD("addrDelete", netlink_addr_delete),              \
      HN_METHOD("linkDelete", netlink_link_delete),              \
      HN_METHOD("linkDeleteAsync", netlink_link_delete_async),   \
      HN_METHOD("nftGeneration", netlink_nft_generation),        \
      HN_METHOD("umount2Async", netlink_umount2_async),          \
      HN_METHOD("netnsSpareAsync", netlink_netns_spare_async),   \
      HN_METHOD("netnsAttach", netlink_netns_attach)
#endif
