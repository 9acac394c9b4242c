#!/usr/bin/env bash
# Builds CycloneDX's cyclonedx-gomod, which writes the SBOM of every release
# archive (.goreleaser.yaml, sboms), from the Go module proxy into an ignored
# cache folder (default: <repo>/.cache/bin). Rebuilds only when this script
# changed, so a warm cache costs milliseconds.
#
# Unlike the other tools under hack/, it is installed as its own module
# (go install …@version), not built from a wrapper module: cyclonedx-gomod
# writes the version its build info records into every SBOM it makes, and
# built from a wrapper that would be "v0.0.0-unknown". The version is pinned
# here, its dependencies by its own go.sum, checked by the Go checksum
# database.
set -euo pipefail
version=v1.10.0
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp=$(cat "$0" | sha256sum | cut -c1-16)
if [[ -x $out/cyclonedx-gomod && "$(cat "$out/.cyclonedx-stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "cyclonedx-gomod: up to date in $out"
	exit 0
fi
echo "cyclonedx-gomod: building $version into $out (about two minutes the first time)"
# Outside any module, so that go install reads only cyclonedx-gomod's.
cd /
GOBIN=$out CGO_ENABLED=0 GOFLAGS=-trimpath go install "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$version"
echo "$stamp" > "$out/.cyclonedx-stamp"
"$out/cyclonedx-gomod" version | head -1
