{
  "targets": [
    {
      "target_name": "hull_native",
      "sources": ["native/hull_native.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
