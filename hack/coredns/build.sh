#!/usr/bin/env bash
# Builds CoreDNS, with its standard plugins, from the Go module proxy into an
# ignored cache folder (default: <repo>/.cache/bin) for the end-to-end tests.
# Rebuilds only when this module or this script changed, so a warm cache
# costs milliseconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$0" | sha256sum | cut -c1-16)
if [[ -x $out/coredns && "$(cat "$out/.coredns.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "coredns: up to date in $out"
	exit 0
fi
cd "$here"
echo "coredns: building into $out (first build takes a few minutes)"
CGO_ENABLED=0 go build -trimpath -o "$out/coredns" .
echo "$stamp" > "$out/.coredns.stamp"
"$out/coredns" -version
