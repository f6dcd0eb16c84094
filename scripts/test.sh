#!/usr/bin/env bash
# Builds smlocal and runs every test: the doctest units and the end-to-end suite (real binary,
# boto3, AWS CLI, JS SDK) under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Fixture training images for the Docker tests (cached by tag and source hash).
scripts/build-fixtures.sh
# The JS SDK and dashboard end-to-end tests need their node_modules (from the committed lock file),
# installed again whenever the lock file is newer than the installed tree.
if [ ! -f tests/e2e/js/node_modules/.package-lock.json ] ||
   [ tests/e2e/js/package-lock.json -nt tests/e2e/js/node_modules/.package-lock.json ]; then
  (cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error)
fi
cd build
ctest --output-on-failure "$@"
