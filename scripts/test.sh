#!/usr/bin/env bash
# Builds smlocal and runs every test: the doctest units and the end-to-end suite (real binary,
# boto3, AWS CLI, JS SDK) under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Fixture training images for the Docker tests (cached by tag and source hash).
scripts/build-fixtures.sh
# The JS SDK end-to-end test needs its node_modules (from the committed lock file).
if [ ! -d tests/e2e/js/node_modules ] && [ -f tests/e2e/js/package-lock.json ]; then
  (cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error)
fi
cd build
ctest --output-on-failure "$@"
