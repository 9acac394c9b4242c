#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager (both from the same
# k8s.io/kubernetes module) and etcd from the Go module proxy into an ignored
# cache folder (default: <repo>/.cache/bin). Rebuilds only when this module's
# go.mod/go.sum or this script changed, so a warm cache costs seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.cache/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp=$(cat "$here/go.mod" "$here/go.sum" "$here/etcd/main.go" "$0" | sha256sum | cut -c1-16)
if [[ -x $out/kube-apiserver && -x $out/kube-controller-manager && -x $out/etcd && "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "testbin: kube-apiserver, kube-controller-manager and etcd up to date in $out"
	exit 0
fi
cd "$here"
echo "testbin: building kube-apiserver, kube-controller-manager and etcd into $out (first build takes several minutes)"
# Stamp the version the module pins: clients such as kubectl read it.
kver=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$kver" | cut -d. -f2)
pkg=k8s.io/component-base/version
ldflags="-X $pkg.gitVersion=$kver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
for cmd in kube-apiserver kube-controller-manager; do
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
CGO_ENABLED=0 go build -trimpath -o "$out/etcd" ./etcd
echo "$stamp" > "$out/.stamp"
"$out/kube-apiserver" --version
"$out/kube-controller-manager" --version
