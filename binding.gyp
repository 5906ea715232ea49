{
  "targets": [
    {
      "target_name": "hull_native",
      "sources": ["native/hull_native.c", "native/fdpass.c", "native/netlink.c", "native/abi-probe.c", "native/napi-util.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
