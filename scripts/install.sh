#!/usr/bin/env bash
# Install everything hull needs on Debian 12 (as root), build it, put `hull` on PATH, and run
# hull's main job. Idempotent and quiet: a second run only rebuilds.
#   bash scripts/install.sh             install + main job
#   bash scripts/install.sh --no-demo   install only (what the test command uses)
set -euo pipefail
cd "$(dirname "$0")/.."

# runc runs containers and tini is --init's pid 1; skopeo and docker-registry serve the interop tests;
# busybox-static makes test and example images offline; zstd unpacks zstd layers; gcc, g++,
# make and python3 build the native addon, better-sqlite3 and the monitor.
# netavark + aardvark-dns: container networking (bridge, NAT, ports, DNS); iproute2: netns;
# iptables: netavark's firewall backend; util-linux: flock/unshare around netavark.
# qemu-system-x86 (QEMU, virtiofsd) and linux-image-cloud-amd64 (the guest kernel) run --isolation vm
# (a VM also uses iproute2: ip, tc; util-linux: nsenter, unshare).
# fonts-dejavu-core: the text of `hull compare --chart FILE.png` (rendered by resvg from the SVG).
# docker-compose (1.29, python): a TEST dependency only (test/integration/api-compose.test.ts
# drives `hull serve` with it); hull itself never runs it.
PACKAGES=(runc skopeo docker-registry busybox-static zstd openssl ca-certificates tini gcc g++ make python3 netavark aardvark-dns iproute2 iptables util-linux qemu-system-x86 linux-image-cloud-amd64 docker-compose fonts-dejavu-core)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "hull: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "hull: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "hull: building"
npm run --silent build >/dev/null
# `hull` is the native client (build/hull-client): it hands each command to a warm worker, or runs
# node on dist/src/cli/main.js when none is ready (docs/ARCHITECTURE.md, "CLI start-up").
ln -sf "$PWD/build/hull-client" /usr/local/bin/hull

[ "${1:-}" = "--no-demo" ] && exit 0

# Main job: make a small image offline from Debian's static busybox, import it, list it.
echo "hull: main job"
bash scripts/demo.sh
