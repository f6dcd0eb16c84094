#!/usr/bin/env bash
# S3 throughput: 1 GiB PutObject and GetObject through smlocal's S3 against `cp` of the same file on the
# same disk, side by side in one run.
#
#   scripts/bench/s3.sh            # print the Markdown section on stdout (progress goes to stderr)
#   scripts/bench/s3.sh --write    # ... and replace its section in docs/BENCHMARKS.md
#
# Measures (scripts/bench/s3_helper.py; all on 127.0.0.1, path-style http://127.0.0.1:PORT/bench/KEY):
#   1. Warm page cache, BENCH_S3_ROUNDS rounds, each way once per round in a rotating order:
#      `cp`, `curl -T` (PutObject, unsigned), `curl -o` (GetObject), diagnostics `dd bs=1M` and `md5sum`,
#      boto3 put_object/get_object without checksums or payload signing, boto3 put_object with botocore's
#      defaults, and `aws s3 cp` up and down (multipart, 8 MiB parts). Median MiB/s; the target
#      (issue #5): curl's throughput >= 50% of cp's.
#   2. Cold page cache, BENCH_S3_COLD_ROUNDS rounds of cp / curl PUT / curl GET with
#      `sync; echo 3 > /proc/sys/vm/drop_caches` before each (skipped, and said so, if the kernel refuses).
#   3. smlocal's VmRSS, sampled every 5 ms during every upload; its CPU time and context switches.
#      A diagnostic way in 1.: `curl -T` to a second smlocal started with `--threads 1`.
#   4. If `perf` works: smlocal's system calls during one more curl PUT and GET (diagnostic).
# Builds what it needs (Release smlocal in build-bench), starts and stops its own server, keeps the
# 1 GiB source, every copy and the server's data in one temp dir under /tmp (8 GiB free needed), and
# takes about five minutes.
# Needs: cmake, ninja, g++, curl, aws (AWS CLI), python3 with boto3; root for the cold rounds; perf
# (optional). Knobs (for quick trials only; published figures use the defaults):
#   BENCH_S3_ROUNDS (5), BENCH_S3_COLD_ROUNDS (3), BENCH_S3_MIB (1024: the object's size in MiB),
#   BENCH_S3_PERF (1; 0 skips 4.), SMLOCAL_BENCH_BUILD (build dir).
set -euo pipefail

# shellcheck disable=SC2034  # read by common.sh
BENCH_NAME=s3.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT, BENCH, PIDS, log, die, build_smlocal, ...
BUILD=${SMLOCAL_BENCH_BUILD:-$ROOT/build-bench}
ROUNDS=${BENCH_S3_ROUNDS:-5}
COLD_ROUNDS=${BENCH_S3_COLD_ROUNDS:-3}
SIZE_MIB=${BENCH_S3_MIB:-1024}
PERF=${BENCH_S3_PERF:-1}
DOC="$ROOT/docs/BENCHMARKS.md"
HELPER="$BENCH/s3_helper.py"

parse_write_flag 25 "$@"
check_knob BENCH_S3_ROUNDS "$ROUNDS" 1 50
check_knob BENCH_S3_COLD_ROUNDS "$COLD_ROUNDS" 0 50
check_knob BENCH_S3_MIB "$SIZE_MIB" 16 4096
check_knob BENCH_S3_PERF "$PERF" 0 1

require_tools cmake ninja g++ curl aws python3 cmp
python3 -c 'import boto3' 2>/dev/null || die "python3 cannot import boto3"

# The source, every copy and smlocal's data in one folder, so on one file system (the section names it).
TMP=$(mktemp -d /tmp/smlocal-bench-s3.XXXXXX)
cleanup() {
  stop_started
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free=$(df --output=avail -B1 "$TMP" | tail -1 | tr -d ' ')
[[ "$free" -ge $((8 * 1024 * 1024 * 1024)) ]] || die "$TMP has $free bytes free; this benchmark wants 8 GiB"

# --- build ----------------------------------------------------------------------------------------
build_smlocal "$BUILD"

STARTED=$(date +%s.%N)  # the measurements, not the build
META="$TMP/meta.txt"
meta() { echo "$1=$2" >>"$META"; }
command_line="scripts/bench/s3.sh"
[[ $WRITE -eq 0 ]] || command_line+=" --write"
[[ "$ROUNDS" == 5 ]] || command_line="BENCH_S3_ROUNDS=$ROUNDS $command_line"
[[ "$COLD_ROUNDS" == 3 ]] || command_line="BENCH_S3_COLD_ROUNDS=$COLD_ROUNDS $command_line"
[[ "$SIZE_MIB" == 1024 ]] || command_line="BENCH_S3_MIB=$SIZE_MIB $command_line"
[[ "$PERF" == 1 ]] || command_line="BENCH_S3_PERF=$PERF $command_line"
meta command "$command_line"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta load_before "$(load_avg)"
meta git "$(git_describe)"
meta fs "$(df --output=source,fstype "$TMP" | tail -1 | awk '{ print $1 ", " $2 }')"
meta curl_version "$(curl --version | awk 'NR == 1 { print $2 }')"
meta botocore_version "$(python3 -c 'import botocore; print(botocore.__version__)')"
meta aws_version "$(aws --version 2>&1 | awk '{ print $1 }' | tr / ' ')"
meta coreutils_version "$(cp --version | awk 'NR == 1 { print $NF }')"

# The AWS CLI's transfer settings, its defaults written out.
cat >"$TMP/aws-config" <<'EOF'
[default]
region = us-east-1
s3 =
  addressing_style = path
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
  max_concurrent_requests = 10
EOF

log "writing the ${SIZE_MIB} MiB source file (random bytes)"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$TMP/source.bin"
mkdir -p "$TMP/work"

# --- server and measurements ------------------------------------------------------------------------
# A second server with one worker thread, for one diagnostic way (curl -T to it).
start_smlocal smlocal-t1 "$TMP/smlocal-t1-data" --threads 1
T1_PID=$SMLOCAL_PID
T1_URL=$SMLOCAL_URL
start_smlocal smlocal "$TMP/smlocal-data" --threads 2
log "smlocal at $SMLOCAL_URL (data in $TMP/smlocal-data), --threads 1 at $T1_URL; load $(load_avg)"
perf_flag=()
if [[ "$PERF" == 1 ]]; then
  if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_recvmsg -p "$SMLOCAL_PID" -- sleep 0.1 >/dev/null 2>&1; then
    perf_flag=(--perf)
  else
    log "perf cannot count smlocal's system calls here: no diagnostic pass"
  fi
fi
meta busy_before "$(busy_percent)"  # the server idle, nothing of ours running
python3 "$HELPER" measure "$SMLOCAL_URL" --pid "$SMLOCAL_PID" --src "$TMP/source.bin" --work "$TMP/work" \
  --results "$TMP/results.jsonl" --aws-config "$TMP/aws-config" --rounds "$ROUNDS" --cold-rounds "$COLD_ROUNDS" \
  --url1 "$T1_URL" --pid1 "$T1_PID" "${perf_flag[@]}"
stop_process "$SMLOCAL_PID"
stop_process "$T1_PID"
meta busy_after "$(busy_percent)"
meta load_after "$(load_avg)"
meta elapsed_s "$(python3 -c "import time; print(round(time.time() - $STARTED))")"

# --- report ---------------------------------------------------------------------------------------
if [[ $WRITE -eq 1 ]]; then
  python3 "$HELPER" render "$TMP/results.jsonl" --meta "$META" --write "$DOC"
else
  python3 "$HELPER" render "$TMP/results.jsonl" --meta "$META"
fi
