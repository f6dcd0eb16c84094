#!/usr/bin/env bash
# Points Docker's data-root at a roomy disk and sets the engine's default /dev/shm size, the two
# local-mode pains a full root disk and a 64 MB /dev/shm cause.
#   scripts/setup-docker.sh --data-root DIR [--default-shm-size SIZE] [--no-restart]
# Writes or merges /etc/docker/daemon.json (DOCKER_DAEMON_JSON overrides the path), moves the
# existing data to DIR when DIR is empty, restarts (or starts) dockerd and verifies the result.
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

if pgrep -x dockerd >/dev/null; then
  echo "setup-docker: stopping dockerd"
  pkill -x dockerd
  for _ in $(seq 1 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
fi

mkdir -p "$data_root"
if [ "$old_root" != "$data_root" ] && [ -d "$old_root" ] && [ -z "$(ls -A "$data_root")" ]; then
  echo "setup-docker: moving $old_root to $data_root"
  cp -a "$old_root/." "$data_root/"
fi

echo "setup-docker: starting dockerd"
nohup dockerd --config-file "$daemon_json" >/var/log/smlocal-dockerd.log 2>&1 &
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
actual=$(docker info --format '{{.DockerRootDir}}')
[ "$actual" = "$data_root" ] || { echo "setup-docker: dockerd runs with data-root $actual, not $data_root" >&2; exit 1; }
echo "setup-docker: dockerd is up with data-root $actual ($(df -h --output=avail "$actual" | tail -1 | tr -d ' ') free)"
if [ -n "$shm_size" ]; then
  got=$(docker run --rm --entrypoint /usr/local/bin/train smlocal-fixtures/trainer:1 2>/dev/null | grep -o 'shm_bytes=[0-9]*' || true)
  echo "setup-docker: default shm check: ${got:-skipped (no fixture image yet)}"
fi
