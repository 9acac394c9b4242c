# syntax=docker/dockerfile:1
# The ssm image: the static binary `make build` makes, on distroless, run as
# a non-root user. Stamp the version as make would:
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) -t ssm .
#
# Without them the binary reports version "dev", commit "unknown", exactly as
# `make build` outside a git checkout does. Pin both base images by digest
# where you build releases.

# The builder runs on the build machine and cross-compiles (CGO_ENABLED=0 in
# the Makefile), so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS
ARG TARGETARCH
# Exactly `make build`: the image holds the binary a developer builds.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	GOOS=$TARGETOS GOARCH=$TARGETARCH make build VERSION="$VERSION" COMMIT="$COMMIT"

# CA certificates for https remotes and git servers, no shell, no package
# manager. ssm never runs the git binary, so the image needs none.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="ssm" \
	org.opencontainers.image.description="Service mirroring, the GitOps way" \
	org.opencontainers.image.source="https://github.com/ssm-dev/ssm" \
	org.opencontainers.image.version="$VERSION" \
	org.opencontainers.image.revision="$COMMIT"
COPY --from=build /src/bin/ssm /ssm
USER 65532:65532
# /healthz, /readyz and /metrics of `ssm run`.
EXPOSE 8080
ENTRYPOINT ["/ssm"]
