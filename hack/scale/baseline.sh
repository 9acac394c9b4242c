#!/bin/sh
# Builds ssm as it was at a git revision, for make scale's baseline
# (BASELINE=<rev>), into DIR/ssm-<rev>, and prints its path. Built once per
# revision, as `make build` builds ssm.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 REV DIR" >&2; exit 2; }
rev=$(git rev-parse --short "$1^{commit}")
mkdir -p "$2"
out=$(cd "$2" && pwd)/ssm-$rev
if [ ! -x "$out" ]; then
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	git archive "$rev" | tar -x -C "$src"
	(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$rev" -o "$out" ./cmd/ssm) >&2
fi
echo "$out"
