#!/bin/sh
# Builds semaphore-service-mirror, the controller ssm replaces, for make
# scale's side by side memory figure (PEER=<binary>), from a checkout of
# github.com/utilitywarehouse/semaphore-service-mirror (SRC: the Go module
# proxy does not serve it; its dependencies come from the proxy). Built as
# `make build` builds ssm (static, stripped). One change: its metrics server
# listens on 127.0.0.1:8080 instead of :8080, as every server the tests
# start listens on loopback only.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 SRC OUT" >&2; exit 2; }
src=$1
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$src/." "$work"
grep -q 'ListenAndServe(":8080"' "$work/main.go" || { echo "$src/main.go: no ListenAndServe(\":8080\") to move to loopback" >&2; exit 1; }
sed -i 's/ListenAndServe(":8080"/ListenAndServe("127.0.0.1:8080"/' "$work/main.go"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out" .)
echo "$out"
