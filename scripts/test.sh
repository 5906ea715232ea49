#!/usr/bin/env bash
# The whole test suite: install what is missing (quietly), build, lint, then every unit and
# integration test under node's test runner, whose summary ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --no-demo
echo "hull: linting"
npx eslint . >&2
node scripts/run-tests.mjs "$@"
