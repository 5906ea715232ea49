#!/usr/bin/env bash
# hull's main job, for a newcomer: build a busybox root filesystem offline, import it as an
# image, list it, run it; then build examples/hello from it, run that as a container and as a
# VM, and compare the two with `hull compare`.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/root"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"
# Imported once; a second run reuses it (an import is a new image each time).
hull image inspect hull-example/busybox >/dev/null 2>&1 ||
  tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf - . |
  hull import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' -m 'busybox from Debian busybox-static' - hull-example/busybox:latest
hull images
hull history hull-example/busybox:latest
echo
echo "hull: the image as a container (namespaces, cgroups, overlayfs root):"
hull run --rm --name hull-demo --memory 64m --pids-limit 64 hull-example/busybox \
  sh -c 'echo "hello from $(hostname): kernel $(uname -r), $(id)"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes | sed "s/^/memory limit: /"'

# The same image both ways: built from examples/hello/Dockerfile (FROM the image above, no
# registry needed), run as a container and as a VM, then measured by `hull compare`. A VM boot
# under QEMU's TCG (no usable KVM) takes seconds: HULL_DEMO_RUNS keeps the demo short.
echo
echo "hull: building examples/hello (FROM hull-example/busybox, offline):"
hull build -q -t hull-example/hello:latest "$(dirname "$0")/../examples/hello"
echo
echo "hull: hull-example/hello as a container:"
hull run --rm hull-example/hello
echo "hull: hull-example/hello as a virtual machine (--isolation vm):"
hull run --rm --isolation vm hull-example/hello
echo
echo "hull: hull compare --runs ${HULL_DEMO_RUNS:-3} hull-example/hello (progress on stderr):"
hull compare --runs "${HULL_DEMO_RUNS:-3}" hull-example/hello
