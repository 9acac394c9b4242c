#!/usr/bin/env bash
# Local stand-ins for the two base images of the Dockerfile, for machines
# that cannot pull them (this project's tests and CI): the release build
# pulls the real ones and is not changed by this.
#
#   golang:1.26                               the host's Go toolchain, sh and make
#   gcr.io/distroless/static-debian12:nonroot passwd and group with nonroot
#                                             (65532), CA certificates, /tmp
#
# Usage: hack/image/bases.sh [podman|docker]
set -euo pipefail
engine=${1:-podman}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The build stage: a shell and make (with the libraries they link) and the
# Go toolchain that builds this repository.
go=$tmp/golang
mkdir -p "$go/bin" "$go/usr/local" "$go/etc/ssl/certs" "$go/tmp" "$go/root"
chmod 1777 "$go/tmp"
cp /bin/dash "$go/bin/sh"
cp "$(command -v make)" "$go/bin/make"
for lib in $(ldd /bin/dash "$(command -v make)" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | sort -u); do
	cp -L --parents "$lib" "$go"
done
cp -a "$(go env GOROOT)" "$go/usr/local/go"
cp /etc/ssl/certs/ca-certificates.crt "$go/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$go/etc/passwd"
printf 'root:x:0:\n' >"$go/etc/group"
tar -C "$go" -c . | "$engine" import \
	--change 'ENV PATH=/usr/local/go/bin:/go/bin:/bin' --change 'ENV GOPATH=/go' \
	--change "ENV GOPROXY=$(go env GOPROXY)" --change 'ENV GOTOOLCHAIN=local' \
	- docker.io/library/golang:1.26 >/dev/null

# The runtime stage, as distroless static nonroot: no shell, no package
# manager.
rt=$tmp/static
mkdir -p "$rt/etc/ssl/certs" "$rt/tmp" "$rt/home/nonroot"
chmod 1777 "$rt/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$rt/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rt/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rt/etc/group"
tar -C "$rt" --owner=0 --group=0 -c . | "$engine" import \
	--change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
	- gcr.io/distroless/static-debian12:nonroot >/dev/null
echo "bases: golang:1.26 and gcr.io/distroless/static-debian12:nonroot imported into $engine"
