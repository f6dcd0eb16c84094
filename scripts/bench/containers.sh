#!/usr/bin/env bash
# Containers: smlocal's per-job overhead against plain Docker, and File-mode staging time, in one run.
#
#   scripts/bench/containers.sh            # print the Markdown section on stdout (progress goes to stderr)
#   scripts/bench/containers.sh --write    # ... and replace its section in docs/BENCHMARKS.md
#
# Measures, all on this host (loopback HTTP and the local Docker socket):
#   1. Per-job overhead for smlocal-fixtures/trainer:1 with epochs=1 sleep_seconds=0 (exits at once):
#      BENCH_RUNS interleaved rounds, after one warm-up each, of
#        a. an smlocal job: CreateTrainingJob, then DescribeTrainingJob every 10 ms on one keep-alive
#           http.client connection until Completed;
#        b. `docker run --rm` of the same image with the same /opt/ml mounts (config files written here);
#        c. the same with a network of its own (`docker network create` / `run --network` / `network rm`),
#           a diagnostic: smlocal gives every job its own network;
#        d. `docker-compose up --abort-on-container-exit` + `down` of `smlocal compose <job>`'s file.
#      Wall time median/p90; the container's own run time from `docker events` (start -> die); the
#      target: smlocal no more than 50 ms beyond `docker run`. Spans between smlocal's
#      SecondaryStatusTransitions and Docker's events show where the time goes.
#   2. File-mode staging: CreateTrainingJob -> SecondaryStatus Training for 10 MB (written files) and
#      10 GB (sparse files, truncate) S3Prefix folders, and BENCH_SHARD_FILES files on 2 hosts,
#      FullyReplicated (bind mount) vs ShardedByS3Key (hard links). BENCH_STAGING_REPS jobs per case.
#   3. A diagnostic pass (not in the figures of 1): BENCH_DIAG_JOBS smlocal jobs and `docker run`s through
#      scripts/bench/containers_docker_proxy.py, which timestamps every Docker Engine API call.
# Builds what it needs (Release smlocal in build-bench, the trainer fixture image if missing or stale),
# starts and stops its own smlocal servers, `docker events` reader and proxy, keeps all state in a temp
# dir, removes its containers, networks and files, and takes about two minutes.
# Needs: a running dockerd, docker CLI, docker-compose (v1), cmake, ninja, g++, python3.
# Knobs (for quick trials only; published figures use the defaults):
#   BENCH_RUNS (10), BENCH_STAGING_REPS (3), BENCH_SHARD_FILES (1000), BENCH_DIAG_JOBS (5),
#   SMLOCAL_BENCH_BUILD (build dir), BENCH_SOURCE (`tree`: the working tree, built in build-bench;
#   `head`: a clean `git archive` export of HEAD, built under /tmp/smlocal-bench-head-<sha>/, for
#   figures that belong to a commit while the working tree holds unfinished edits), BENCH_KEEP_RAW
#   (a folder to copy the raw results, events and proxy log into, for re-rendering with
#   `containers_helper.py render`).
set -euo pipefail

# shellcheck disable=SC2034  # read by common.sh
BENCH_NAME=containers.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT, BENCH, PIDS, log, die, build_smlocal, ...
SOURCE_MODE=${BENCH_SOURCE:-tree}
case "$SOURCE_MODE" in
  tree) SOURCE=$ROOT; BUILD=${SMLOCAL_BENCH_BUILD:-$ROOT/build-bench} ;;
  head)
    HEAD_SHA=$(git -C "$ROOT" rev-parse --short=7 HEAD)
    SOURCE=/tmp/smlocal-bench-head-$HEAD_SHA/src
    BUILD=${SMLOCAL_BENCH_BUILD:-/tmp/smlocal-bench-head-$HEAD_SHA/build} ;;
  *) echo "BENCH_SOURCE: tree or head" >&2; exit 2 ;;
esac
RUNS=${BENCH_RUNS:-10}
STAGING_REPS=${BENCH_STAGING_REPS:-3}
SHARD_FILES=${BENCH_SHARD_FILES:-1000}
DIAG_JOBS=${BENCH_DIAG_JOBS:-5}
MIN_FREE_BYTES=$((2 * 1024 * 1024 * 1024))  # the 10 GB input is sparse; the rest is a few tens of MB
DOC="$ROOT/docs/BENCHMARKS.md"
HELPER="$BENCH/containers_helper.py"

parse_write_flag 34 "$@"
check_knob BENCH_RUNS "$RUNS" 1 100
check_knob BENCH_STAGING_REPS "$STAGING_REPS" 1 20
check_knob BENCH_SHARD_FILES "$SHARD_FILES" 2 100000
check_knob BENCH_DIAG_JOBS "$DIAG_JOBS" 0 50

require_tools cmake ninja g++ docker docker-compose python3
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "no Docker engine answers (start it: nohup dockerd >/var/log/smlocal-dockerd.log 2>&1 &)"

TMP=$(mktemp -d /tmp/smlocal-bench-containers.XXXXXX)
RESULTS="$TMP/results.jsonl"
META="$TMP/meta.txt"
EVENTS="$TMP/events.jsonl"
PROXY_LOG="$TMP/proxy.jsonl"
# Every container, network and job of this run carries this token, so nothing else is touched.
TOKEN="cb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"

remove_docker_leftovers() {  # containers and networks whose name holds this run's token
  local ids
  ids=$(docker ps -aq --filter "name=$TOKEN" 2>/dev/null || true)
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
  ids=$(docker network ls -q --filter "name=$TOKEN" 2>/dev/null || true)
  [[ -z "$ids" ]] || docker network rm $ids >/dev/null 2>&1 || true
}

cleanup() {
  if [[ -n "${BENCH_KEEP_RAW:-}" ]]; then
    mkdir -p "$BENCH_KEEP_RAW" && cp -f "$RESULTS" "$EVENTS" "$PROXY_LOG" "$META" "$BENCH_KEEP_RAW/" 2>/dev/null || true
  fi
  stop_started
  remove_docker_leftovers
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_job_server() {  # NAME DATA_DIR [DOCKER_HOST]: start_smlocal with --stop-grace 3 (common.sh)
  local name=$1 data=$2 docker_host=${3:-}
  if [[ -n "$docker_host" ]]; then
    DOCKER_HOST=$docker_host start_smlocal "$name" "$data" --stop-grace 3
  else
    start_smlocal "$name" "$data" --stop-grace 3
  fi
}

meta() { echo "$1=$2" >>"$META"; }

# --- build ----------------------------------------------------------------------------------------
if [[ "$SOURCE_MODE" == head && ! -f "$SOURCE/CMakeLists.txt" ]]; then
  log "exporting HEAD ($HEAD_SHA) to $SOURCE"
  rm -rf "$SOURCE.tmp" && mkdir -p "$SOURCE.tmp"
  git -C "$ROOT" archive --format=tar HEAD | tar -x -C "$SOURCE.tmp"
  mv "$SOURCE.tmp" "$SOURCE"
fi
build_smlocal "$BUILD" "$SOURCE"
log "checking the trainer fixture image"
"$ROOT/scripts/build-fixtures.sh" trainer >&2

STARTED=$(date +%s.%N)  # the measurements, not the build
free=$(df --output=avail -B1 "$TMP" | tail -1 | tr -d ' ')
[[ "$free" -ge "$MIN_FREE_BYTES" ]] || die "$TMP has $free bytes free; this benchmark wants $MIN_FREE_BYTES"

command_line="scripts/bench/containers.sh"
[[ $WRITE -eq 0 ]] || command_line+=" --write"
[[ "$RUNS" == 10 ]] || command_line="BENCH_RUNS=$RUNS $command_line"
[[ "$STAGING_REPS" == 3 ]] || command_line="BENCH_STAGING_REPS=$STAGING_REPS $command_line"
[[ "$SHARD_FILES" == 1000 ]] || command_line="BENCH_SHARD_FILES=$SHARD_FILES $command_line"
[[ "$DIAG_JOBS" == 5 ]] || command_line="BENCH_DIAG_JOBS=$DIAG_JOBS $command_line"
[[ "$SOURCE_MODE" == tree ]] || command_line="BENCH_SOURCE=$SOURCE_MODE $command_line"
meta command "$command_line"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "$SOURCE_MODE" == head ]]; then
  meta git "$HEAD_SHA (clean export of HEAD)"
  meta build_dir "/tmp/smlocal-bench-head-<sha>/build"
else
  # --dirty, unless the only change is this benchmark's own doc (an earlier --write).
  meta git "$(git_describe)"
  meta build_dir "build-bench"
fi
meta docker_server "$(docker version --format '{{.Server.Version}}')"
meta docker_client "$(docker version --format '{{.Client.Version}}')"
meta storage_driver "$(docker info --format '{{.Driver}}')"
meta backing_fs "$(docker info --format '{{range .DriverStatus}}{{if eq (index . 0) "Backing Filesystem"}}{{index . 1}}{{end}}{{end}}')"
meta cgroup_version "$(docker info --format '{{.CgroupVersion}}')"
meta runc "$(docker info --format '{{.RuncCommit.ID}}')"
meta compose_version "$(docker-compose version --short 2>/dev/null || echo unknown)"
log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), load $(cut -d' ' -f1-3 /proc/loadavg);" \
  "Docker $(docker version --format '{{.Server.Version}}') ($(docker info --format '{{.Driver}}')); token $TOKEN"

# --- Docker events, for the whole run --------------------------------------------------------------
docker events --format '{{json .}}' --filter type=container --filter type=network >"$EVENTS" 2>"$TMP/events.err" &
EVENTS_PID=$!
PIDS+=("$EVENTS_PID")
sleep 0.5
kill -0 "$EVENTS_PID" 2>/dev/null || die "docker events exited: $(cat "$TMP/events.err")"

# --- 1. per-job overhead, 2. staging ----------------------------------------------------------------
start_job_server smlocal "$TMP/data"
log "smlocal at $SMLOCAL_URL (data in $TMP/data)"
mkdir -p "$TMP/work"
python3 "$HELPER" overhead "$SMLOCAL_URL" "$RESULTS" --smlocal "$BUILD/smlocal" --data-dir "$TMP/data" \
  --work "$TMP/work" --token "$TOKEN" --runs "$RUNS"
python3 "$HELPER" staging "$SMLOCAL_URL" "$RESULTS" --s3-root "$TMP/data/s3" --data-dir "$TMP/data" \
  --token "$TOKEN" --reps "$STAGING_REPS" --shard-files "$SHARD_FILES"
stop_smlocal_pid=$SMLOCAL_PID
stop_process "$stop_smlocal_pid"
rm -rf "$TMP/data/s3/$TOKEN-data"  # the data sets (sparse or not) go at once

# --- 3. diagnostic pass through the timestamping proxy ----------------------------------------------
if [[ "$DIAG_JOBS" -gt 0 ]]; then
  upstream=${DOCKER_HOST:-unix:///var/run/docker.sock}
  [[ "$upstream" == unix://* ]] || die "the diagnostic proxy needs a unix-socket DOCKER_HOST, not $upstream"
  python3 "$BENCH/containers_docker_proxy.py" "$TMP/docker-proxy.sock" "${upstream#unix://}" "$PROXY_LOG" \
    >"$TMP/proxy.out" 2>"$TMP/proxy.err" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  for i in $(seq 50); do
    [[ -S "$TMP/docker-proxy.sock" ]] && break
    kill -0 "$PROXY_PID" 2>/dev/null || die "proxy exited: $(cat "$TMP/proxy.err")"
    [[ $i -lt 50 ]] || die "proxy socket missing after 5 s"
    sleep 0.1
  done
  start_job_server smlocal-diag "$TMP/data-diag" "unix://$TMP/docker-proxy.sock"
  log "diagnostic smlocal at $SMLOCAL_URL, Docker through the proxy"
  python3 "$HELPER" diagnose "$SMLOCAL_URL" "$RESULTS" --work "$TMP/work" --token "$TOKEN" --jobs "$DIAG_JOBS" \
    --proxy-socket "$TMP/docker-proxy.sock"
  stop_process "$SMLOCAL_PID"
  stop_process "$PROXY_PID"
fi

sleep 0.5  # let the last events arrive
stop_process "$EVENTS_PID"
meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
meta elapsed_s "$(python3 -c "import time; print(round(time.time() - $STARTED))")"

# --- report ---------------------------------------------------------------------------------------
if [[ $WRITE -eq 1 ]]; then
  python3 "$HELPER" render "$RESULTS" "$EVENTS" "$PROXY_LOG" --meta "$META" --write "$DOC"
else
  python3 "$HELPER" render "$RESULTS" "$EVENTS" "$PROXY_LOG" --meta "$META"
fi
