#!/usr/bin/env bash
# Points Docker's data-root at a roomy disk and sets the engine's default /dev/shm size, the two
# local-mode pains a full root disk and a 64 MB /dev/shm cause.
#   scripts/setup-docker.sh --data-root DIR [--default-shm-size SIZE] [--no-restart]
# Writes or merges /etc/docker/daemon.json (DOCKER_DAEMON_JSON overrides the path), moves the
# existing data to DIR when DIR is empty, restarts (or starts) dockerd and verifies the result.
# The daemon restarted is the one whose pidfile the config names (default /var/run/docker.pid);
# `docker` talks to it through DOCKER_HOST as usual, so a second engine can be moved alone.
set -euo pipefail

data_root="" shm_size="" restart=1
daemon_json="${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}"
while [ $# -gt 0 ]; do
  case "$1" in
    --data-root) data_root="$2"; shift 2 ;;
    --default-shm-size) shm_size="$2"; shift 2 ;;
    --no-restart) restart=0; shift ;;
    *) echo "usage: $0 --data-root DIR [--default-shm-size SIZE] [--no-restart]" >&2; exit 2 ;;
  esac
done
[ -n "$data_root" ] || { echo "setup-docker: --data-root is required" >&2; exit 2; }
data_root=$(realpath -m "$data_root")

old_root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)

# Merge, keeping every other setting the file already has.
mkdir -p "$(dirname "$daemon_json")"
python3 - "$daemon_json" "$data_root" "$shm_size" <<'PY'
import json, os, sys
path, root, shm = sys.argv[1:4]
config = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        config = json.load(f)
config["data-root"] = root
if shm:
    config["default-shm-size"] = shm
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)
    f.write("\n")
os.replace(tmp, path)
print(f"setup-docker: wrote {path}: {json.dumps(config, sort_keys=True)}")
PY

[ "$restart" = 1 ] || exit 0

pidfile=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("pidfile", "/var/run/docker.pid"))' "$daemon_json")
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "setup-docker: stopping dockerd ($pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { echo "setup-docker: dockerd ($pid) did not stop" >&2; exit 1; }
fi

mkdir -p "$data_root"
if [ "$old_root" != "$data_root" ] && [ -d "$old_root" ] && [ -z "$(ls -A "$data_root")" ]; then
  echo "setup-docker: moving $old_root to $data_root"
  cp -a "$old_root/." "$data_root/"
fi

echo "setup-docker: starting dockerd"
log=${DOCKERD_LOG:-/var/log/smlocal-dockerd.log}
nohup dockerd --config-file "$daemon_json" >"$log" 2>&1 &
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
actual=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo "none (see $log)")
[ "$actual" = "$data_root" ] || { echo "setup-docker: dockerd runs with data-root $actual, not $data_root" >&2; exit 1; }
echo "setup-docker: dockerd is up with data-root $actual ($(df -h --output=avail "$actual" | tail -1 | tr -d ' ') free)"
if [ -n "$shm_size" ]; then
  got=$(docker run --rm --entrypoint /usr/local/bin/train smlocal-fixtures/trainer:1 2>/dev/null | grep -o 'shm_bytes=[0-9]*' || true)
  echo "setup-docker: default shm check: ${got:-skipped (no fixture image yet)}"
fi
