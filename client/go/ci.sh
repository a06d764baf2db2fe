#!/usr/bin/env bash
# client/go/ci.sh: vet and test the Go client against the real server.
#   SWITCHYARD_BIN  the switchyard binary the tests start (.ci/run sets it); without it
#                   the tests use ${CARGO_TARGET_DIR:-<repo>/target}/debug/switchyard
#                   and fail when that does not exist either.
# Needs Go >= 1.26 and the Go module proxy (or a warm module cache). Exit status 0
# only when everything passes.
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  echo "SWITCHYARD_BIN=$SWITCHYARD_BIN"
fi
go mod download
go mod verify
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go test -count=1 ./...
