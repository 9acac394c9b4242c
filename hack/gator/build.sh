#!/usr/bin/env bash
# Builds Gatekeeper's gator from the Go module proxy into an ignored cache
# folder (default: <repo>/.cache/bin), for `gator verify` of the suites under
# examples/gatekeeper. Rebuilds only when this module's go.mod/go.sum or this
# script changed, so a warm cache costs a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp=$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -c1-16)
if [[ -x $out/gator && "$(cat "$out/.gator-stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "gator: up to date in $out"
	exit 0
fi
cd "$here"
echo "gator: building into $out (the first build takes a few minutes)"
# Stamp the version the module pins: `gator --version` reports it.
version=$(go list -m -f '{{.Version}}' github.com/open-policy-agent/gatekeeper/v3)
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-X github.com/open-policy-agent/gatekeeper/v3/pkg/version.Version=$version" \
	-o "$out/gator" github.com/open-policy-agent/gatekeeper/v3/cmd/gator
echo "$stamp" > "$out/.gator-stamp"
"$out/gator" --version
