{
  "targets": [
    {
      "target_name": "hull_native",
      "sources": ["native/hull_native.c", "native/fdpass.c", "native/netlink.c", "native/abi-probe.c", "native/napi-util.c", "native/seccomp-napi.c", "native/seccomp/lookpath.c", "native/seccomp/sealed-copy.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
