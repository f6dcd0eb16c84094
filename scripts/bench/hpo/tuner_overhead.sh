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

# shellcheck disable=SC2034  # read by common.sh
BENCH_NAME=tuner_overhead.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # ROOT, PIDS, log, die, build_smlocal, start_smlocal, ...
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

if [[ $BUILD_IT -eq 1 ]]; then
  build_smlocal "$BUILD"
fi
[[ -x "$BUILD/smlocal" ]] || die "$BUILD/smlocal not built"

TMP=$(mktemp -d /tmp/smlocal-bench-hpo-overhead.XXXXXX)
cleanup() {
  # The server only (10 s, then SIGKILL), as stop_process does.
  [[ -z "${SMLOCAL_PID:-}" ]] || stop_process "$SMLOCAL_PID"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

start_smlocal smlocal "$TMP/data" --threads 2
log "smlocal at $SMLOCAL_URL; $REPEATS tuning jobs of $CHILDREN children, parallel $PARALLEL"

python3 "$HERE/hpo_helper.py" overhead "$SMLOCAL_URL" --json "$TMP/overhead.json" \
  --jobs "$CHILDREN" --parallel "$PARALLEL" --repeats "$REPEATS"
[[ -n "$JSON_OUT" ]] && cp "$TMP/overhead.json" "$JSON_OUT"
python3 "$HERE/hpo_helper.py" overhead-table "$TMP/overhead.json"
