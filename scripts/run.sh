#!/usr/bin/env bash
# Builds smlocal (installing what it needs) and starts it with defaults:
# http://127.0.0.1:8080, state in ./.smlocal. Extra arguments go to `smlocal serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/smlocal serve "$@"
