#!/usr/bin/env bash
# Builds Flux's kustomize-controller from the Go module proxy into an ignored
# cache folder (default: <repo>/.cache/bin) and copies beside it the CRDs the
# end-to-end tests install: the Kustomization's, from kustomize-controller's
# module, and the sources', from source-controller's module (only
# downloaded, never built: source-controller does not build from the module
# proxy, so the tests serve its artifacts themselves). Rebuilds only when this
# module or this script changed, so a warm cache costs milliseconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
source_version=v1.8.5
stamp=$( (cat "$here/go.mod" "$here/go.sum" "$0"; echo "$source_version") | sha256sum | cut -c1-16)
crds=$out/flux-crds
if [[ -x $out/kustomize-controller && -d $crds && "$(cat "$out/.flux.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "flux: kustomize-controller up to date in $out"
	exit 0
fi
cd "$here"
# kustomize-controller's go.mod holds replace directives for its own tree
# that a wrapper module cannot follow (this module's go.mod repeats the two
# that matter); -mod=mod lets go resolve the rest from go.sum's pins.
export GOFLAGS="$(go env GOFLAGS) -mod=mod"
echo "flux: building kustomize-controller into $out (first build takes about 5 minutes on two cores)"
CGO_ENABLED=0 go build -trimpath -o "$out/kustomize-controller" github.com/fluxcd/kustomize-controller
kc=$(go list -m -f '{{.Dir}}' github.com/fluxcd/kustomize-controller)
sc=$(go mod download -json "github.com/fluxcd/source-controller@$source_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $sc/config/crd/bases ]] || { echo "flux: no CRDs in source-controller $source_version ($sc)" >&2; exit 1; }
rm -rf "$crds" && mkdir -p "$crds"
cp "$kc"/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml "$crds"/
# kustomize-controller watches every kind of source; a missing CRD stalls it.
cp "$sc"/config/crd/bases/source.toolkit.fluxcd.io_{gitrepositories,ocirepositories,buckets,externalartifacts}.yaml "$crds"/
chmod u+w "$crds"/*
echo "$stamp" > "$out/.flux.stamp"
echo "flux: kustomize-controller $(go list -m -f '{{.Version}}' github.com/fluxcd/kustomize-controller) and its CRDs in $out"
