#!/usr/bin/env bash
# Python client CI: a fresh venv in client/python/.venv, the package installed from
# client/python with its `test` extra (not editable: the tests use the built wheel),
# then pytest against the real switchyard binary: $SWITCHYARD_BIN, else
# ${CARGO_TARGET_DIR:-<repo>/target}/debug/switchyard (build it first).
# Exits non-zero on any failure, including a run that collected no test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

venv=client/python/.venv
python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "./client/python[test]"
"$venv/bin/python" -c 'import switchyard_client, switchyard.v1.switchyard_pb2_grpc'

echo "switchyard binary: ${SWITCHYARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/switchyard}"
status=0
"$venv/bin/python" -m pytest client/python/tests -q || status=$?
if [ "$status" -eq 5 ]; then
  echo "client/python: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
