# shellcheck shell=bash
# What the benchmark drivers share: logging, building smlocal, starting and stopping the servers they
# start. Sourced, never run: api.sh, containers.sh, s3.sh, logs.sh, hpo/run.sh, hpo/tuner_overhead.sh.
#
#   BENCH_NAME=s3.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#
# Sets ROOT (the repository) and BENCH (scripts/bench), and PIDS=() for the processes a driver starts:
# add every background process to PIDS, and call stop_started from the driver's EXIT trap.
# start_smlocal needs TMP (the run's temp dir) and BUILD (where smlocal was built) set by the driver.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034  # for the drivers
BENCH="$ROOT/scripts/bench"
PIDS=()

log() { echo "[${BENCH_NAME:-bench} $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# parse_write_flag HELP_LAST_LINE ARG...: sets WRITE (1 for --write); -h/--help prints the driver's
# header comment (lines 2..HELP_LAST_LINE); anything else is a usage error.
parse_write_flag() {
  local help_end=$1 arg
  shift
  WRITE=0
  for arg in "$@"; do
    case "$arg" in
      --write) WRITE=1 ;;
      -h|--help) sed -n "2,${help_end}p" "$0"; exit 0 ;;
      *) echo "usage: $0 [--write]" >&2; exit 2 ;;
    esac
  done
}

# check_knob NAME VALUE MIN MAX: a usage error (exit 2) unless VALUE is an integer in MIN..MAX.
check_knob() {
  [[ "$2" =~ ^[0-9]+$ && "$2" -ge "$3" && "$2" -le "$4" ]] || { echo "$1: $3..$4" >&2; exit 2; }
}

require_tools() {  # TOOL...: dies naming the first one missing from PATH
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH"
  done
}

# build_smlocal BUILD [SOURCE]: a Release smlocal from SOURCE (default: the working tree) in BUILD.
build_smlocal() {
  local build=$1 source=${2:-}
  if [[ -n "$source" ]]; then
    log "building smlocal (Release) from $source in $build"
  else
    log "building smlocal (Release) in $build"
    source=$ROOT
  fi
  cmake -S "$source" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  cmake --build "$build" --target smlocal >&2
}

# stop_process PID: stop one of ours (bounded: 10 s, then SIGKILL) and forget it.
stop_process() {
  local pid=$1 kept=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  PIDS=("${kept[@]}")
}

# stop_started: SIGTERM to every process in PIDS, then a bounded wait (5 s) for each, then SIGKILL.
stop_started() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# wait_for_port FILE PID: the port from the "... listening on http://HOST:PORT" line in FILE (10 s).
wait_for_port() {
  local file=$1 pid=$2 port
  for _ in $(seq 100); do
    port=$(sed -n 's#.* listening on http://[^:]*:\([0-9][0-9]*\)$#\1#p' "$file" 2>/dev/null | head -1)
    if [[ -n "$port" ]]; then echo "$port"; return 0; fi
    kill -0 "$pid" 2>/dev/null || die "server (pid $pid) exited early; see $(cat "$file" "${file%.out}.err" 2>/dev/null | tail -5)"
    sleep 0.1
  done
  die "no listening line in $file after 10 s"
}

# start_smlocal NAME DATA_DIR [SERVE_ARG...]: `$BUILD/smlocal serve` on 127.0.0.1, a free port, output
# in $TMP/NAME.out and .err; sets SMLOCAL_PID (also added to PIDS) and SMLOCAL_URL ("http://.../").
start_smlocal() {
  local name=$1 data=$2
  shift 2
  "$BUILD/smlocal" serve --host 127.0.0.1 --port 0 --data-dir "$data" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  SMLOCAL_PID=$!
  PIDS+=("$SMLOCAL_PID")
  # shellcheck disable=SC2034  # for the drivers
  SMLOCAL_URL="http://127.0.0.1:$(wait_for_port "$TMP/$name.out" "$SMLOCAL_PID")/"
}

rss_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }  # PID FIELD (VmRSS, VmHWM)

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# busy_percent [SECONDS]: how busy all CPUs were over the next SECONDS (default 2), from /proc/stat, in %.
# Run it while the benchmark itself is idle, and it measures the machine's other work.
busy_percent() {
  local a b
  a=$(head -1 /proc/stat)
  sleep "${1:-2}"
  b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    split(a, x); split(b, y); total = 0
    for (i = 2; i <= 9; i++) total += y[i] - x[i]   # user .. steal
    idle = (y[5] - x[5]) + (y[6] - x[6])             # idle + iowait
    printf "%.0f\n", (total > 0 ? 100 * (total - idle) / total : 0) }'
}

# git_describe: the commit, "-dirty" unless the only changes are in docs/BENCHMARKS.md (an earlier --write).
git_describe() {
  if [[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!docs/BENCHMARKS.md' 2>/dev/null)" ]]; then
    git -C "$ROOT" describe --always 2>/dev/null || echo unknown
  else
    git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown
  fi
}
