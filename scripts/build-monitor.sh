#!/usr/bin/env bash
# Builds the per-container monitor (native/monitor/*.c) into build/hull-monitor, and the other
# C programs outside the addon (the VM guest init and runtime front, the seccomp helper).
#
# Linked dynamically by default, on purpose (docs/monitor.md, "Memory"): a static glibc binary
# maps ~580 KiB of its own text per monitor, which only other monitors share, so one idle
# container costs ~680 KiB PSS; linked against libc.so (mapped by every process on the host) an
# idle monitor costs under 200 KiB. HULL_MONITOR_STATIC=1 builds the static variant (for hosts
# where the monitor must not depend on the installed libc), falling back to dynamic if glibc
# does not link statically.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
CFLAGS=(-O2 -Wall -Wextra -Werror -std=gnu11 -D_FORTIFY_SOURCE=2)
SRC=(native/monitor/*.c native/seccomp/lookpath.c native/seccomp/sealed-copy.c)
OUT=build/hull-monitor
if [ "${HULL_MONITOR_STATIC:-0}" = 1 ] && gcc "${CFLAGS[@]}" -static -o "$OUT.tmp" "${SRC[@]}" 2>/dev/null; then
  :
else
  gcc "${CFLAGS[@]}" -o "$OUT.tmp" "${SRC[@]}"
fi
strip "$OUT.tmp" 2>/dev/null || true
mv -f "$OUT.tmp" "$OUT"

# The VM guest's init (native/vm/hull-vm-init.c): static, because it runs as pid 1 of a guest
# whose initramfs holds no libc.
gcc "${CFLAGS[@]}" -static -o build/hull-vm-init.tmp native/vm/hull-vm-init.c native/vm/guest-exec.c
strip build/hull-vm-init.tmp 2>/dev/null || true
mv -f build/hull-vm-init.tmp build/hull-vm-init

# The VM runtime's front (native/vm/hull-vm-runtime.c): start/state/kill/delete without a node
# start; it execs dist/src/vm/runtime-main.js for the other verbs. Dynamic, as the monitor.
gcc "${CFLAGS[@]}" -o build/hull-vm-runtime.tmp native/vm/hull-vm-runtime.c
strip build/hull-vm-runtime.tmp 2>/dev/null || true
mv -f build/hull-vm-runtime.tmp build/hull-vm-runtime

# The precompiled seccomp filter's helper (native/seccomp/hull-seccomp-exec.c): static, because
# it is the first program inside the container's root, whatever libc the image has (or none).
gcc "${CFLAGS[@]}" -static -o build/hull-seccomp-exec.tmp native/seccomp/hull-seccomp-exec.c native/seccomp/lookpath.c
strip build/hull-seccomp-exec.tmp 2>/dev/null || true
mv -f build/hull-seccomp-exec.tmp build/hull-seccomp-exec
