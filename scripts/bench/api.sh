#!/usr/bin/env bash
# API throughput and latency: smlocal vs moto_server vs a trivial keep-alive Beast server, in one run.
#
#   scripts/bench/api.sh            # print the Markdown section on stdout (progress goes to stderr)
#   scripts/bench/api.sh --write    # ... and replace its section in docs/BENCHMARKS.md
#
# Measures, all on 127.0.0.1:
#   1. DescribeTrainingJob requests/s, p50/p99 at concurrency 1 and 16 (wrk -t1 -c1, -t2 -c16) against
#      smlocal, moto_server and scripts/bench/ceiling_server.cpp; ratios smlocal/moto, smlocal/ceiling.
#      For reading the gap, the ceiling runs a second time with a body as large as smlocal's answer.
#   2. CreateTrainingJob rate while creating BENCH_JOBS (10,000) simulator jobs with wrk.
#   3. ListTrainingJobs {"MaxResults":100} p50/p99 and requests/s at concurrency 1 with those jobs stored.
#   4. smlocal VmRSS idle after start, and idle after the jobs.
# Builds what it needs (Release smlocal in build-bench, the ceiling server with g++ -O2), starts and
# stops every server itself, keeps all state in a temp dir, and takes about three minutes.
# Needs: cmake, ninja, g++, Boost 1.74, wrk, moto_server on PATH, python3 with boto3.
# Knobs (for quick trials only; published figures use the defaults):
#   BENCH_DURATION (s per wrk run, 10), BENCH_JOBS (10000), SMLOCAL_BENCH_BUILD (build dir).
set -euo pipefail

# shellcheck disable=SC2034  # read by common.sh
BENCH_NAME=api.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT, BENCH, PIDS, log, die, build_smlocal, ...
BUILD=${SMLOCAL_BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
JOBS=${BENCH_JOBS:-10000}
CREATE_THREADS=2
CREATE_CONNECTIONS=8
CREATE_BOUND_S=300   # upper bound for the create phase
SETTLE_BOUND_S=300   # upper bound for the jobs to become terminal
DOC="$ROOT/docs/BENCHMARKS.md"

parse_write_flag 20 "$@"
check_knob BENCH_DURATION "$DURATION" 1 120
check_knob BENCH_JOBS "$JOBS" "$CREATE_THREADS" 100000

require_tools cmake ninja g++ wrk moto_server python3 curl
python3 -c 'import boto3' 2>/dev/null || die "python3 cannot import boto3"

TMP=$(mktemp -d /tmp/smlocal-bench-api.XXXXXX)
RESULTS="$TMP/results.txt"
cleanup() {
  stop_started
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { echo "$*" >>"$RESULTS"; }

# run_wrk NAME THREADS CONNECTIONS URL OPERATION BODY: one measured wrk run, recorded as NAME.
run_wrk() {
  local name=$1 threads=$2 conns=$3 url=$4 op=$5 body=$6 out="$TMP/wrk-$1.txt" line
  wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 10s --latency -s "$BENCH/aws_json.lua" "$url" -- "$op" "$body" \
    >"$out" 2>&1 || die "wrk $name failed: $(tail -3 "$out")"
  line=$(grep '^WRK_RESULT ' "$out" | tail -1) || die "wrk $name printed no result: $(tail -3 "$out")"
  record "$name ${line#WRK_RESULT }"
  log "  $name: $(awk '/^Requests\/sec/ { print $2 " req/s" }' "$out"), ${line#WRK_RESULT }"
}

warm_up() {  # URL OPERATION BODY
  wrk -t2 -c16 -d2s --timeout 10s -s "$BENCH/aws_json.lua" "$1" -- "$2" "$3" >/dev/null 2>&1 || die "warm-up against $1 failed"
}

describe_suite() {  # KEY URL
  local key=$1 url=$2 body='{"TrainingJobName":"bench-0"}'
  log "DescribeTrainingJob against $key ($url)"
  warm_up "$url" DescribeTrainingJob "$body"
  run_wrk "describe_${key}_c1" 1 1 "$url" DescribeTrainingJob "$body"
  run_wrk "describe_${key}_c16" 2 16 "$url" DescribeTrainingJob "$body"
}

# --- build ----------------------------------------------------------------------------------------
build_smlocal "$BUILD"
CEILING="$BUILD/ceiling_server"
if [[ ! -x "$CEILING" || "$BENCH/ceiling_server.cpp" -nt "$CEILING" ]]; then
  log "building the ceiling server"
  g++ -std=c++20 -O2 -pthread -Wall -Wextra "$BENCH/ceiling_server.cpp" -o "$CEILING.tmp" >&2
  mv "$CEILING.tmp" "$CEILING"
fi

record "meta duration_s=$DURATION jobs=$JOBS date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "load_before=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' _)" \
  "git=$(git_describe)" \
  "wrk_version=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')" \
  "moto_version=$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo unknown)"

# --- servers --------------------------------------------------------------------------------------
log "starting smlocal, moto_server and the ceiling server"
start_smlocal smlocal "$TMP/smlocal-data" --threads 2

"$CEILING" 0 2 >"$TMP/ceiling.out" 2>"$TMP/ceiling.err" &
CEILING_PID=$!
PIDS+=("$CEILING_PID")
CEILING_URL="http://127.0.0.1:$(wait_for_port "$TMP/ceiling.out" "$CEILING_PID")/"

MOTO_PORT=$(python3 "$BENCH/api_helper.py" free-port)
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$TMP/moto.log" 2>&1 &
MOTO_PID=$!
PIDS+=("$MOTO_PID")
MOTO_URL="http://127.0.0.1:$MOTO_PORT/"
for i in $(seq 150); do
  curl -s -o /dev/null --max-time 1 "$MOTO_URL" && break
  kill -0 "$MOTO_PID" 2>/dev/null || die "moto_server exited: $(tail -5 "$TMP/moto.log")"
  [[ $i -lt 150 ]] || die "moto_server not answering after 15 s"
  sleep 0.1
done

# Idle RSS: smlocal has served nothing yet.
sleep 1
record "rss_idle vmrss_kb=$(rss_kb "$SMLOCAL_PID" VmRSS)"
log "smlocal idle VmRSS: $(rss_kb "$SMLOCAL_PID" VmRSS) kB"

log "creating bench-0 in smlocal and (with boto3) in moto_server"
python3 "$BENCH/api_helper.py" create-bench0 "$SMLOCAL_URL" >/dev/null
python3 "$BENCH/api_helper.py" create-bench0 --boto3 "$MOTO_URL" >/dev/null

# Each target must answer the benchmark request with 200 before we time it.
probe() {  # URL NAME: the answer's body is left in $TMP/probe-NAME.json
  local code
  code=$(curl -s -o "$TMP/probe-$2.json" -w '%{http_code}' --max-time 5 -X POST "$1" \
    -H 'X-Amz-Target: SageMaker.DescribeTrainingJob' -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=content-type;host;x-amz-target, Signature=0' \
    -d '{"TrainingJobName":"bench-0"}')
  if [[ "$code" != 200 ]] || ! grep -q '"TrainingJobName": *"bench-0"' "$TMP/probe-$2.json"; then
    die "DescribeTrainingJob probe of $1: HTTP $code $(head -c 300 "$TMP/probe-$2.json")"
  fi
}
probe "$SMLOCAL_URL" smlocal
probe "$MOTO_URL" moto
probe "$CEILING_URL" ceiling
SMLOCAL_BODY_BYTES=$(wc -c <"$TMP/probe-smlocal.json")
"$CEILING" 0 2 "$SMLOCAL_BODY_BYTES" >"$TMP/ceiling-sized.out" 2>"$TMP/ceiling-sized.err" &
CEILING_SIZED_PID=$!
PIDS+=("$CEILING_SIZED_PID")
CEILING_SIZED_URL="http://127.0.0.1:$(wait_for_port "$TMP/ceiling-sized.out" "$CEILING_SIZED_PID")/"
probe "$CEILING_SIZED_URL" ceiling-sized
record "bodies smlocal_bytes=$SMLOCAL_BODY_BYTES moto_bytes=$(wc -c <"$TMP/probe-moto.json")" \
  "ceiling_bytes=$(wc -c <"$TMP/probe-ceiling.json") ceiling_sized_bytes=$(wc -c <"$TMP/probe-ceiling-sized.json")"

# --- 1. DescribeTrainingJob -----------------------------------------------------------------------
describe_suite smlocal "$SMLOCAL_URL"
describe_suite moto "$MOTO_URL"
describe_suite ceiling "$CEILING_URL"
describe_suite ceiling_sized "$CEILING_SIZED_URL"
stop_process "$MOTO_PID"
stop_process "$CEILING_PID"
stop_process "$CEILING_SIZED_PID"

# --- 2. CreateTrainingJob x JOBS ------------------------------------------------------------------
log "creating $JOBS jobs with wrk -t$CREATE_THREADS -c$CREATE_CONNECTIONS"
mkdir -p "$TMP/markers"
wrk -t"$CREATE_THREADS" -c"$CREATE_CONNECTIONS" -d"${CREATE_BOUND_S}s" --timeout 10s -s "$BENCH/create_jobs.lua" \
  "$SMLOCAL_URL" -- "$JOBS" "$CREATE_THREADS" job "$TMP/markers" >"$TMP/wrk-create.txt" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
for _ in $(seq $((CREATE_BOUND_S * 20))); do
  [[ $(find "$TMP/markers" -name '*.done' | wc -l) -ge $CREATE_THREADS ]] && break
  kill -0 "$WRK_PID" 2>/dev/null || break
  sleep 0.05
done
kill -INT "$WRK_PID" 2>/dev/null || true  # wrk reports (and calls done()) on SIGINT
wait "$WRK_PID" || true
stop_process "$WRK_PID"
line=$(grep '^WRK_RESULT ' "$TMP/wrk-create.txt" | tail -1) || die "create run printed no result: $(tail -5 "$TMP/wrk-create.txt")"
record "create ${line#WRK_RESULT }"
log "  create: ${line#WRK_RESULT }"

log "checking all $JOBS jobs exist and waiting until they are terminal"
settle=$(python3 "$BENCH/api_helper.py" settle "$SMLOCAL_URL" "$JOBS" "$CREATE_THREADS" job "$SETTLE_BOUND_S")
record "settle $settle"
log "  $settle"

sleep 2
record "rss_after vmrss_kb=$(rss_kb "$SMLOCAL_PID" VmRSS) vmhwm_kb=$(rss_kb "$SMLOCAL_PID" VmHWM)"
log "smlocal VmRSS idle after $JOBS jobs: $(rss_kb "$SMLOCAL_PID" VmRSS) kB (peak $(rss_kb "$SMLOCAL_PID" VmHWM) kB)"

# --- 3. ListTrainingJobs with the jobs stored -----------------------------------------------------
record "list_check $(python3 "$BENCH/api_helper.py" list-check "$SMLOCAL_URL")"
log "ListTrainingJobs {\"MaxResults\":100} against smlocal with $JOBS jobs"
wrk -t1 -c1 -d2s --timeout 10s -s "$BENCH/aws_json.lua" "$SMLOCAL_URL" -- ListTrainingJobs '{"MaxResults":100}' >/dev/null 2>&1
run_wrk list_smlocal_c1 1 1 "$SMLOCAL_URL" ListTrainingJobs '{"MaxResults":100}'

record "meta load_after=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' _)"
stop_process "$SMLOCAL_PID"

# --- report ---------------------------------------------------------------------------------------
if [[ $WRITE -eq 1 ]]; then
  python3 "$BENCH/api_helper.py" render "$RESULTS" --write "$DOC"
else
  python3 "$BENCH/api_helper.py" render "$RESULTS"
fi
