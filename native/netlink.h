// Network namespaces and rtnetlink for the default bridge's fast path; see netlink.c.
#ifndef HULL_NETLINK_H
#define HULL_NETLINK_H
#define NAPI_VERSION 8
#include <node_api.h>

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

#define NETLINK_PROPERTIES                                                                     \
  {"netnsCreate", NULL, netlink_netns_create, NULL, NULL, NULL, napi_enumerable, NULL},       \
      {"netnsCreateAsync", NULL, netlink_netns_create_async, NULL, NULL, NULL, napi_enumerable, NULL}, \
      {"vethCreate", NULL, netlink_veth_create, NULL, NULL, NULL, napi_enumerable, NULL},     \
      {"netnsConfigure", NULL, netlink_netns_configure, NULL, NULL, NULL, napi_enumerable, NULL}, \
      {"addrDelete", NULL, netlink_addr_delete, NULL, NULL, NULL, napi_enumerable, NULL},     \
      {"linkDelete", NULL, netlink_link_delete, NULL, NULL, NULL, napi_enumerable, NULL},     \
      {"linkDeleteAsync", NULL, netlink_link_delete_async, NULL, NULL, NULL, napi_enumerable, NULL}, \
      {"nftGeneration", NULL, netlink_nft_generation, NULL, NULL, NULL, napi_enumerable, NULL}, \
      {"umount2Async", NULL, netlink_umount2_async, NULL, NULL, NULL, napi_enumerable, NULL}, \
      {"netnsSpareAsync", NULL, netlink_netns_spare_async, NULL, NULL, NULL, napi_enumerable, NULL}, \
      {"netnsAttach", NULL, netlink_netns_attach, NULL, NULL, NULL, napi_enumerable, NULL}
#endif
