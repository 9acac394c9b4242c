#!/usr/bin/env bash
# Builds GoReleaser from the Go module proxy into an ignored cache folder
# (default: <repo>/.cache/bin), for `make release-check` (the configuration
# checked and a snapshot release built, in `make test`) and `make release`.
# Rebuilds only when this module's go.mod/go.sum or this script changed, so
# a warm cache costs milliseconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp=$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -c1-16)
if [[ -x $out/goreleaser && "$(cat "$out/.goreleaser-stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "goreleaser: up to date in $out"
	exit 0
fi
cd "$here"
echo "goreleaser: building into $out (the first build takes several minutes)"
# Stamp the version the module pins: `goreleaser --version` reports it.
version=$(go list -m -f '{{.Version}}' github.com/goreleaser/goreleaser/v2)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version -X main.builtBy=ssm-hack" \
	-o "$out/goreleaser" github.com/goreleaser/goreleaser/v2
echo "$stamp" > "$out/.goreleaser-stamp"
"$out/goreleaser" --version | grep -m1 GitVersion
