#!/usr/bin/env bash
# Builds the fixture training images used by the Docker end-to-end tests, without any registry:
#   smlocal-fixtures/trainer:1  static C++ trainer FROM scratch (fixtures/trainer/)
#   smlocal-fixtures/python:1   debootstrap minbase + python3 + numpy + script-mode launcher (fixtures/python/)
#
# Idempotent: an image is rebuilt only when its tag is missing or its label smlocal.fixture.hash
# differs from the hash of its current inputs. Fails loudly (non-zero exit, message on stderr).
#
#   scripts/build-fixtures.sh [--force] [trainer|python ...]
#
# Environment: SMLOCAL_CACHE (python rootfs cache, default /var/cache/smlocal), SMLOCAL_DEBIAN_MIRROR,
# CXX (default g++), DOCKER (default docker).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
docker=${DOCKER:-docker}
cxx=${CXX:-g++}

force=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    trainer|python) targets+=("$arg") ;;
    *) echo "usage: $0 [--force] [trainer|python ...]" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(trainer python)

log() { echo "build-fixtures: $*"; }
ctx=""
trap '[ -z "$ctx" ] || rm -rf "$ctx"' EXIT
fail() { echo "build-fixtures: ERROR: $*" >&2; exit 1; }

command -v "$docker" >/dev/null || fail "docker CLI not found"
"$docker" info >/dev/null 2>&1 || fail "cannot reach the Docker engine; start it with: pgrep dockerd || (dockerd >/tmp/dockerd.log 2>&1 &)"

build_trainer() {
  local image=smlocal-fixtures/trainer:1 dir=$root/fixtures/trainer
  local hash have start=$SECONDS
  hash=$(cat "$dir/trainer.cpp" "$dir/Dockerfile" | sha256sum | cut -c1-16)
  if [ "$force" = 0 ]; then
    have=$("$docker" image inspect -f '{{ index .Config.Labels "smlocal.fixture.hash" }}' "$image" 2>/dev/null || true)
    if [ "$have" = "$hash" ]; then
      log "$image is up to date (hash $hash), nothing to do"
      return
    fi
    [ -n "$have" ] && log "$image was built from other sources (hash $have, want $hash): rebuilding"
  fi
  command -v "$cxx" >/dev/null || fail "$cxx not found (apt-get install g++)"
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/smlocal-trainer.XXXXXX")
  log "compiling fixtures/trainer/trainer.cpp ($cxx -std=c++20 -static -O2 -s)"
  # glibc warns that a static getaddrinfo needs its shared NSS libraries at run time; since glibc
  # 2.34 the files and dns back ends are part of libc, so the binary resolves names in scratch.
  if ! "$cxx" -std=c++20 -static -O2 -s -Wall -Wextra -o "$ctx/train" "$dir/trainer.cpp" 2>"$ctx/cc.log"; then
    cat "$ctx/cc.log" >&2
    fail "compiling trainer.cpp failed"
  fi
  grep -v -e "requires at runtime the shared libraries" -e "in function \`" "$ctx/cc.log" >&2 || true
  cp "$dir/Dockerfile" "$ctx/Dockerfile"
  local old_id new_id
  old_id=$("$docker" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  log "docker build -t $image"
  if ! DOCKER_BUILDKIT=0 "$docker" build -q --label "smlocal.fixture.hash=$hash" --label smlocal.fixture=trainer \
        -t "$image" "$ctx" >"$ctx/build.log" 2>&1; then
    cat "$ctx/build.log" >&2
    fail "docker build of $image failed"
  fi
  local out
  out=$("$docker" run --rm --network none "$image" train 2>&1) || fail "smoke run of $image failed: $out"
  grep -q '^trainer: done$' <<<"$out" || fail "smoke run of $image did not print 'trainer: done': $out"
  new_id=$("$docker" image inspect -f '{{.Id}}' "$image")
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    "$docker" rmi "$old_id" >/dev/null 2>&1 && log "removed the replaced image ${old_id#sha256:}" || true
  fi
  log "built $image in $((SECONDS - start))s ($("$docker" image inspect -f '{{.Size}}' "$image") bytes)"
}

build_python() {
  log "python image: fixtures/python/build.sh"
  local args=()
  [ "$force" = 1 ] && args+=(--force)
  "$root/fixtures/python/build.sh" "${args[@]}" || fail "fixtures/python/build.sh failed"
}

for t in "${targets[@]}"; do
  "build_$t"
done
log "done: $(for t in "${targets[@]}"; do printf 'smlocal-fixtures/%s:1 ' "$t"; done)"
