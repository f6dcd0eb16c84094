#!/usr/bin/env bash
# Hyperparameter tuning: search quality of the strategies and the tuner's per-child overhead, in one run.
#
#   scripts/bench/hpo/run.sh            # print the Markdown section on stdout (progress goes to stderr)
#   scripts/bench/hpo/run.sh --write    # ... and replace its section in docs/BENCHMARKS.md
#
# 1. Quality (scripts/bench/hpo/hpo_quality.cpp, g++ -O2 against build-bench's libsmlocal_core.a): the
#    tuner's loop replayed in virtual time with the server's strategy and stopper classes and the
#    simulator's Branin and Hartmann6 learning curves. Budgets N = 20, 50, 100; MaxParallel 1 and 4;
#    20 seeds. Random and Bayesian on final values (1 epoch per child); Random, Hyperband (MinResource 1,
#    MaxResource 27) and Random + Auto early stopping with 27 epochs per child. Median and IQM of simple
#    regret, epochs spent, PASS/MISS against the issue's targets.
# 2. Overhead (scripts/bench/hpo/tuner_overhead.sh): the real server, Random tuning jobs of 200
#    zero-duration simulator children at MaxParallel 10, ms per child against the 5 ms target.
# Builds what it needs (Release smlocal in build-bench), starts and stops its own server, keeps all state
# in a temp dir, and takes a few minutes on 2 cores (Bayesian at N = 100 dominates).
# Needs: cmake, ninja, g++ (C++20), the project's build dependencies, python3.
# Knobs (for quick trials only; published figures use the defaults):
#   BENCH_HPO_SEEDS (20), BENCH_HPO_THREADS (nproc), BENCH_HPO_CHILDREN (200), BENCH_HPO_REPEATS (3),
#   SMLOCAL_BENCH_BUILD (build dir).
set -euo pipefail

# shellcheck disable=SC2034  # read by common.sh
BENCH_NAME="hpo run.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # ROOT, log, die, require_tools, build_smlocal
HERE="$ROOT/scripts/bench/hpo"
BUILD=${SMLOCAL_BENCH_BUILD:-$ROOT/build-bench}
SEEDS=${BENCH_HPO_SEEDS:-20}
THREADS=${BENCH_HPO_THREADS:-$(nproc)}
DOC="$ROOT/docs/BENCHMARKS.md"

parse_write_flag 21 "$@"
check_knob BENCH_HPO_SEEDS "$SEEDS" 4 1000
check_knob BENCH_HPO_THREADS "$THREADS" 1 256

require_tools cmake ninja g++ python3

TMP=$(mktemp -d /tmp/smlocal-bench-hpo.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP PIPE

# --- build ----------------------------------------------------------------------------------------
build_smlocal "$BUILD"
QUALITY="$BUILD/hpo_quality"
CORE="$BUILD/emulator/libsmlocal_core.a"
if [[ ! -x "$QUALITY" || "$HERE/hpo_quality.cpp" -nt "$QUALITY" || "$CORE" -nt "$QUALITY" ]]; then
  log "building hpo_quality (g++ -O2 against $CORE)"
  # The core library's private dependencies, as CMake links smlocal (only what the used objects need is pulled).
  g++ -std=c++20 -O2 -pthread -Wall -Wextra -I"$ROOT" "$HERE/hpo_quality.cpp" "$CORE" \
    -lre2 -lcrypto -lsqlite3 -larchive -lcurl -o "$QUALITY.tmp" >&2
  mv "$QUALITY.tmp" "$QUALITY"
fi

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
os_name=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || uname -s)
META=(
  "machine=$(nproc) CPUs (\`nproc\`), ${cpu_model:-unknown CPU}, $os_name, kernel $(uname -r)"
  "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  "git=$(git_describe)"
  "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
)

# --- 1. quality -----------------------------------------------------------------------------------
log "quality: $SEEDS seeds on $THREADS threads"
started=$(date +%s.%N)
"$QUALITY" --seeds "$SEEDS" --threads "$THREADS" >"$TMP/quality.md" 2> >(tee "$TMP/quality.err" | grep -v '^VERDICT' >&2) \
  || die "hpo_quality failed: $(tail -3 "$TMP/quality.err")"
quality_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
META+=("quality_seconds=$(printf '%.0f' "$quality_s")")

# --- 2. tuner overhead ----------------------------------------------------------------------------
log "tuner overhead"
started=$(date +%s.%N)
SMLOCAL_BENCH_BUILD="$BUILD" "$HERE/tuner_overhead.sh" --no-build --json "$TMP/overhead.json" >"$TMP/overhead.md"
overhead_s=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
META+=("overhead_seconds=$(printf '%.0f' "$overhead_s")" "load_after=$(cut -d' ' -f1-3 /proc/loadavg)")

# --- report ---------------------------------------------------------------------------------------
sleep 0.2  # let the tee of hpo_quality's stderr finish
args=(render --quality "$TMP/quality.md" --overhead "$TMP/overhead.json" --meta "${META[@]}")
[[ $WRITE -eq 1 ]] && args+=(--write "$DOC")
python3 "$HERE/hpo_helper.py" "${args[@]}"
misses=$(grep -c '^VERDICT .* MISS$' "$TMP/quality.err" || true)
log "quality targets: $(grep -c '^VERDICT .* PASS$' "$TMP/quality.err" || true) PASS, $misses MISS" \
  "$(grep '^VERDICT .* MISS$' "$TMP/quality.err" | awk '{ print $2 }' | tr '\n' ' ')"
