#!/usr/bin/env bash
# Builds what the Argo CD end-to-end test runs, from the Go module proxy, into
# an ignored cache folder (default: <repo>/.cache/bin):
#   argocd     Argo CD's application-controller and repo-server (main.go), at
#              the version go.mod pins;
#   kustomize  the kustomize release that Argo CD version pins (its
#              hack/tool-versions.sh): the repo-server runs it on every
#              directory holding a kustomization.yaml, as ssm's output does.
# Rebuilds only when this module or this script changed, so a warm cache
# costs milliseconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# kustomize5_version of hack/tool-versions.sh at the Argo CD version go.mod pins.
kustomize_version=v5.7.0
stamp=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$0" | sha256sum | cut -c1-16)
if [[ -x $out/argocd && -x $out/kustomize && -f $out/argocd-manifests/argocd-cm.yaml && "$(cat "$out/.argocd.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "argocd: up to date in $out"
	exit 0
fi
cd "$here"
echo "argocd: building the application-controller, the repo-server and kustomize $kustomize_version into $out (first build takes several minutes)"
module=github.com/argoproj/argo-cd/v3
go mod download "$module"
src=$(go list -m -f '{{.Dir}}' "$module")
version=$(go list -m -f '{{.Version}}' "$module")

# The application-controller serves its metrics on 0.0.0.0, whatever its
# flags say (controller/appcontroller.go). Every test server stays on
# loopback: build from a copy of the module whose one line listens on
# 127.0.0.1 instead, put in place by a replace in a copy of go.mod
# (go build -modfile); go.mod itself and the module cache are untouched.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$src" "$work/argo-cd"
chmod -R u+w "$work/argo-cd"
file=$work/argo-cd/controller/appcontroller.go
if [[ $(grep -c '"0.0.0.0:%d", metricsPort' "$file") != 1 ]]; then
	echo "argocd: controller/appcontroller.go of $module $version no longer listens on \"0.0.0.0:%d\", metricsPort: update the patch in $0" >&2
	exit 1
fi
sed -i 's/"0.0.0.0:%d", metricsPort/"127.0.0.1:%d", metricsPort/' "$file"
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
go mod edit -modfile="$work/go.mod" -replace "$module=$work/argo-cd"

# As Argo CD's release build: CGO off, its version stamped into common (the
# controller and repo-server log it, as "v3.x.y+unknown": no commit).
CGO_ENABLED=0 go build -trimpath -modfile "$work/go.mod" \
	-ldflags "-s -w -X $module/common.version=${version#v}" -o "$out/argocd" .
# kustomize from its own module, as `go install` builds a release: its go.mod
# decides its dependencies, not this module's.
GOBIN=$out CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
# What the tests install, as Argo CD's install.yaml does: the CRDs and the
# stock argocd-cm (whose resource.exclusions examples/argocd overrides).
rm -rf "$out/argocd-manifests"
mkdir -p "$out/argocd-manifests/crds"
cp "$src"/manifests/crds/*-crd.yaml "$out/argocd-manifests/crds/"
cp "$src/manifests/base/config/argocd-cm.yaml" "$out/argocd-manifests/"
echo "$version" > "$out/argocd-manifests/VERSION"
chmod -R u+w "$out/argocd-manifests"
"$out/argocd" application-controller --help >/dev/null
"$out/argocd" repo-server --help >/dev/null
echo "$stamp" > "$out/.argocd.stamp"
echo "argocd: Argo CD $version, kustomize $("$out/kustomize" version)"
