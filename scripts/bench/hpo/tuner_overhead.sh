#!/usr/bin/env bash
# Tuner overhead: how long the real server takes per child of a tuning job whose children do no work.
#
#   scripts/bench/hpo/tuner_overhead.sh [--json FILE] [--no-build]
#
# Starts `smlocal serve --port 0 --threads 2` (Release, build-bench) on a temp data dir, runs
# BENCH_HPO_REPEATS (3) Random tuning jobs of BENCH_HPO_CHILDREN (200) children one after another,
# MaxParallelTrainingJobs BENCH_HPO_PARALLEL (10), on simulator/quadratic with sim_seconds=0 epochs=1,
# timing each from CreateHyperParameterTuningJob until Describe shows Completed, then prints a Markdown
# table (ms per child, target <= 5 ms, and where the time goes). --json keeps the raw measurements.
# scripts/bench/hpo/run.sh calls it (with --no-build, after building). Needs cmake, ninja, g++, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE="$ROOT/scripts/bench/hpo"
BUILD=${SMLOCAL_BENCH_BUILD:-$ROOT/build-bench}
CHILDREN=${BENCH_HPO_CHILDREN:-200}
PARALLEL=${BENCH_HPO_PARALLEL:-10}
REPEATS=${BENCH_HPO_REPEATS:-3}

JSON_OUT=""
BUILD_IT=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --json) JSON_OUT=${2:?--json needs a file}; shift 2 ;;
    --no-build) BUILD_IT=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--json FILE] [--no-build]" >&2; exit 2 ;;
  esac
done

log() { echo "[tuner_overhead.sh $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $BUILD_IT -eq 1 ]]; then
  log "building smlocal (Release) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  cmake --build "$BUILD" --target smlocal >&2
fi
[[ -x "$BUILD/smlocal" ]] || die "$BUILD/smlocal not built"

TMP=$(mktemp -d /tmp/smlocal-bench-hpo-overhead.XXXXXX)
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

"$BUILD/smlocal" serve --host 127.0.0.1 --port 0 --threads 2 --data-dir "$TMP/data" \
  >"$TMP/smlocal.out" 2>"$TMP/smlocal.err" &
SERVER_PID=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's#.* listening on http://[^:]*:\([0-9][0-9]*\)$#\1#p' "$TMP/smlocal.out" 2>/dev/null | head -1)
  [[ -n "$PORT" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "smlocal exited early: $(tail -5 "$TMP/smlocal.err")"
  sleep 0.1
done
[[ -n "$PORT" ]] || die "no listening line from smlocal after 10 s"
log "smlocal on port $PORT; $REPEATS tuning jobs of $CHILDREN children, parallel $PARALLEL"

python3 "$HERE/hpo_helper.py" overhead "http://127.0.0.1:$PORT/" --json "$TMP/overhead.json" \
  --jobs "$CHILDREN" --parallel "$PARALLEL" --repeats "$REPEATS"
[[ -n "$JSON_OUT" ]] && cp "$TMP/overhead.json" "$JSON_OUT"
python3 "$HERE/hpo_helper.py" overhead-table "$TMP/overhead.json"
