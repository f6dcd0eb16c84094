#!/usr/bin/env bash
# Installs what smlocal needs on a fresh Debian 12 machine and builds it. Idempotent: packages
# already present are not reinstalled, and the build is incremental.
#   scripts/setup.sh            build deps + build/smlocal and the tests
#   scripts/setup.sh --no-build only the packages (and a running dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-program-options-dev nlohmann-json3-dev libsqlite3-dev libre2-dev
  libarchive-dev libeigen3-dev libcurl4-openssl-dev libssl-dev doctest-dev libcli11-dev libpugixml-dev
  wrk docker.io docker-compose debootstrap
  # The dashboard test drives Debian's Chromium; `aws logs tail` needs AWS CLI v2 (Debian's awscli).
  chromium awscli
)
# Node.js may come from outside Debian (a preinstalled one); any working node and npm will do.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The end-to-end tests drive boto3 and the AWS CLI; they come with python3 on our machines.
python3 -c "import boto3, botocore" 2>/dev/null || { echo "setup: python3 needs boto3 and botocore" >&2; exit 1; }

# Real training jobs need a Docker engine: start dockerd when none answers (no systemd here).
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/smlocal-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/smlocal-dockerd.log" >&2; exit 1; }
fi

if [ "$build" = 1 ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build
fi
