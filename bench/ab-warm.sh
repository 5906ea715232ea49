#!/bin/bash
# A/B of two hull builds on the warm path: `hull-client --root R run --rm IMAGE true`, each build
# with its own warm workers (the client's supervisor socket is per package root) and its own
# state root (a build may leave a root's files differently between commands: fast6b's WAL
# hand-over does), interleaved, the order alternating every round, PAUSE seconds of idle before
# every run (the idle time matters: V8's memory reducer fired after ~8 s in a worker).
#
#   bench/ab-warm.sh A_DIR B_DIR [ROUNDS=10] [PAUSE=2] [IMAGE=hull-example/busybox]
#
# A_DIR, B_DIR: built checkouts (npm run build; a `git archive COMMIT | tar -x` with
# node_modules linked and build/ copied is enough). The image is copied from the default root
# into a fresh root per build (hull save/load). Output: one line per run (build, wall ms, load
# average), then per build the median wall time and the median of each HULL_TRACE phase named
# in PHASES (ms). Timings on a shared machine are noisy: compare medians of the same loop only.
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); ROUNDS=${3:-10}; PAUSE=${4:-2}; IMAGE=${5:-hull-example/busybox}
PHASES=('engine: open' 'run: create' 'create: row' 'start: bundle' 'network: netns add' 'monitor: start, daemonize' 'runtime create' 'run: exited' 'gc:')
WORK=$(mktemp -d /tmp/hull-ab-warm-XXXXXX)
trap 'for d in a b; do HULL_NO_SERVER=1 node "$A/dist/src/cli/main.js" --root "$WORK/$d" rm -f $(HULL_NO_SERVER=1 node "$A/dist/src/cli/main.js" --root "$WORK/$d" ps -aq) >/dev/null 2>&1 || true; done; rm -rf "$WORK"' EXIT
HULL_NO_SERVER=1 node "$B/dist/src/cli/main.js" save -o "$WORK/image.tar" "$IMAGE"
declare -A DIR=([a]=$A [b]=$B)
for v in a b; do
  HULL_NO_SERVER=1 node "${DIR[$v]}/dist/src/cli/main.js" --root "$WORK/$v" load -i "$WORK/image.tar" >/dev/null
  "${DIR[$v]}/build/hull-client" --version >/dev/null  # starts that build's supervisor
done
sleep 6
for v in a b; do "${DIR[$v]}/build/hull-client" --root "$WORK/$v" run --rm "$IMAGE" true; done  # untimed
for i in $(seq 1 "$ROUNDS"); do
  if (( i % 2 )); then order="a b"; else order="b a"; fi
  for v in $order; do
    sleep "$PAUSE"
    t0=$(date +%s%N)
    HULL_TRACE="$WORK/trace-$v" "${DIR[$v]}/build/hull-client" --root "$WORK/$v" run --rm "$IMAGE" true
    t1=$(date +%s%N)
    echo "$v $(( (t1 - t0) / 1000000 )) $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/runs"
  done
done
median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
for v in a b; do
  echo "== $v (${DIR[$v]}): wall median $(awk -v v=$v '$1==v {print $2}' "$WORK/runs" | median) ms"
  for p in "${PHASES[@]}"; do
    # a phase's rows: its duration (column 2), first row per run; gc: rows summed per run
    if [ "$p" = 'gc:' ]; then
      vals=$(awk '/^hull trace/ {if (n++) print s; s=0} /gc: / {s+=$2} END {print s}' "$WORK/trace-$v")
    else
      vals=$(awk -v p="$p" '/^hull trace/ {seen=0} index($0, p) && !seen && $2 != "·" {print $2; seen=1}' "$WORK/trace-$v")
    fi
    printf '   %-28s %s\n' "$p" "$(echo "$vals" | median)"
  done
done
