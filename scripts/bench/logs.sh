#!/usr/bin/env bash
# Logs: GetLogEvents and FilterLogEvents latency over a 100,000-line training log, in one run.
#
#   scripts/bench/logs.sh            # print the Markdown section on stdout (progress goes to stderr)
#   scripts/bench/logs.sh --write    # ... and replace its section in docs/BENCHMARKS.md
#
# Measures (scripts/bench/logs_helper.py; all on 127.0.0.1, one keep-alive http.client connection):
#   1. One simulator job (simulator/quadratic, sim_seconds=0, epochs=99998) whose log is 100,000 lines;
#      no Docker.
#   2. GetLogEvents p50/p99 from the head, from the tail (startFromHead false) and in the middle (a
#      nextForwardToken followed from the head), each with the default limit (10,000 events or 1 MB)
#      and with limit 100: 1,000 calls per 100-event case, 200 per default-limit case.
#   3. The SageMaker SDK's full read (startTime=0, startFromHead=True, nextForwardToken until an empty
#      page) over http.client and through boto3, 5 times each.
#   4. FilterLogEvents over the whole log: all events page by page (5 times), and a pattern that
#      matches one line (one call scans all 100,000; 200 calls).
# The issue sets no target for logs: the section reports figures and our own expectations.
# Builds what it needs (Release smlocal in build-bench), starts and stops its own server, keeps all
# state in a temp dir, and takes about two minutes.
# Needs: cmake, ninja, g++, python3 with boto3.
# Knobs (for quick trials only; published figures use the defaults):
#   BENCH_LOGS_LINES (100000), BENCH_LOGS_CALLS (1000), BENCH_LOGS_BIG_CALLS (200), BENCH_LOGS_READS (5),
#   SMLOCAL_BENCH_BUILD (build dir).
set -euo pipefail

# shellcheck disable=SC2034  # read by common.sh
BENCH_NAME=logs.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT, BENCH, PIDS, log, die, build_smlocal, ...
BUILD=${SMLOCAL_BENCH_BUILD:-$ROOT/build-bench}
LINES=${BENCH_LOGS_LINES:-100000}
CALLS=${BENCH_LOGS_CALLS:-1000}
BIG_CALLS=${BENCH_LOGS_BIG_CALLS:-200}
READS=${BENCH_LOGS_READS:-5}
DOC="$ROOT/docs/BENCHMARKS.md"
HELPER="$BENCH/logs_helper.py"

parse_write_flag 24 "$@"
check_knob BENCH_LOGS_LINES "$LINES" 1000 1000000
check_knob BENCH_LOGS_CALLS "$CALLS" 10 100000
check_knob BENCH_LOGS_BIG_CALLS "$BIG_CALLS" 10 10000
check_knob BENCH_LOGS_READS "$READS" 1 100

require_tools cmake ninja g++ python3
python3 -c 'import boto3' 2>/dev/null || die "python3 cannot import boto3"

TMP=$(mktemp -d /tmp/smlocal-bench-logs.XXXXXX)
cleanup() {
  stop_started
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ----------------------------------------------------------------------------------------
build_smlocal "$BUILD"

STARTED=$(date +%s.%N)  # the measurements, not the build
META="$TMP/meta.txt"
meta() { echo "$1=$2" >>"$META"; }
command_line="scripts/bench/logs.sh"
[[ $WRITE -eq 0 ]] || command_line+=" --write"
[[ "$LINES" == 100000 ]] || command_line="BENCH_LOGS_LINES=$LINES $command_line"
[[ "$CALLS" == 1000 ]] || command_line="BENCH_LOGS_CALLS=$CALLS $command_line"
[[ "$BIG_CALLS" == 200 ]] || command_line="BENCH_LOGS_BIG_CALLS=$BIG_CALLS $command_line"
[[ "$READS" == 5 ]] || command_line="BENCH_LOGS_READS=$READS $command_line"
meta command "$command_line"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta load_before "$(load_avg)"
meta git "$(git_describe)"
meta botocore_version "$(python3 -c 'import botocore; print(botocore.__version__)')"

# --- server and measurements ------------------------------------------------------------------------
start_smlocal smlocal "$TMP/smlocal-data" --threads 2
log "smlocal at $SMLOCAL_URL (data in $TMP/smlocal-data); load $(load_avg)"
meta busy_before "$(busy_percent)"  # the server idle, nothing of ours running
python3 "$HELPER" measure "$SMLOCAL_URL" --results "$TMP/results.jsonl" --lines "$LINES" --calls "$CALLS" \
  --big-calls "$BIG_CALLS" --reads "$READS"
stop_process "$SMLOCAL_PID"
meta busy_after "$(busy_percent)"
meta load_after "$(load_avg)"
meta elapsed_s "$(python3 -c "import time; print(round(time.time() - $STARTED))")"

# --- report ---------------------------------------------------------------------------------------
if [[ $WRITE -eq 1 ]]; then
  python3 "$HELPER" render "$TMP/results.jsonl" --meta "$META" --write "$DOC"
else
  python3 "$HELPER" render "$TMP/results.jsonl" --meta "$META"
fi
