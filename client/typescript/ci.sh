#!/usr/bin/env bash
# CI of the TypeScript client: install from package-lock.json, build, run the tests
# against the real server. The server binary comes from $SWITCHYARD_BIN, else
# ${CARGO_TARGET_DIR:-<repo>/target}/debug/switchyard (build it first:
# `cargo build -p switchyard`). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund --loglevel=error
npm run build
if [ -n "${SWITCHYARD_BIN:-}" ]; then
  echo "ci.sh: server binary $SWITCHYARD_BIN"
fi
npm test
