#!/usr/bin/env bash
# Builds the native CLI client (native/client/hull-client.c) into build/hull-client: the `hull`
# that scripts/install.sh puts on PATH (see docs/ARCHITECTURE.md, "CLI start-up").
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
gcc -O2 -Wall -Wextra -Werror -std=gnu11 -D_FORTIFY_SOURCE=2 -o build/hull-client.tmp native/client/hull-client.c
strip build/hull-client.tmp 2>/dev/null || true
mv -f build/hull-client.tmp build/hull-client
