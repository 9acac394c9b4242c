#!/usr/bin/env bash
# Builds promrules (this folder: Prometheus's own rule parser) into an
# ignored cache folder (default: <repo>/.cache/bin), for the test of
# examples/monitoring. Rebuilds only when this module or script changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$0" | sha256sum | cut -c1-16)
if [[ -x $out/promrules && "$(cat "$out/.promrules-stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "promrules: up to date in $out"
	exit 0
fi
cd "$here"
echo "promrules: building into $out (about a minute the first time)"
CGO_ENABLED=0 go build -trimpath -o "$out/promrules" .
echo "$stamp" > "$out/.promrules-stamp"
