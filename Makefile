# ssm: build, test and benchmark. `make test` is what CI (.ci/run) runs.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin/ssm
# kube-apiserver and etcd for the end-to-end tests, built from the Go module proxy.
TESTBIN := $(CURDIR)/.cache/bin

.PHONY: build test deps unit e2e-bins gator coredns-bin promrules-bin argocd-bin flux-bin release-bins release-check release bench fuzz soak scale image example fmt-check vet clean

# The Dockerfile runs exactly this build.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ssm

# The Debian packages the tests run (strace, gnupg, podman…), installed
# when missing: after asking once on a terminal, at once in CI.
deps:
	hack/deps.sh

e2e-bins:
	hack/testbin/build.sh $(TESTBIN)

# gator, Gatekeeper's policy test runner, for examples/gatekeeper (hack/gator).
gator:
	hack/gator/build.sh $(TESTBIN)

# Prometheus's rule parser, for examples/monitoring (hack/promrules).
promrules-bin:
	hack/promrules/build.sh $(TESTBIN)

# CoreDNS with its standard plugins, for the DNS end-to-end test (hack/coredns).
coredns-bin:
	hack/coredns/build.sh $(TESTBIN)

# Argo CD's application-controller and repo-server, and the kustomize release
# it pins, for the Argo CD end-to-end test (hack/argocd).
argocd-bin:
	hack/argocd/build.sh $(TESTBIN)

# Flux's kustomize-controller and the CRDs it needs, for the Flux
# end-to-end tests (hack/flux).
flux-bin:
	hack/flux/build.sh $(TESTBIN)

# GoReleaser and the SBOM tool it runs, cyclonedx-gomod (hack/goreleaser,
# hack/cyclonedx), for the release check and make release.
release-bins:
	hack/goreleaser/build.sh $(TESTBIN)
	hack/cyclonedx/build.sh $(TESTBIN)

# .goreleaser.yaml as GoReleaser reads it; e2e TestRelease builds a snapshot
# release from it and runs what it made.
release-check: release-bins
	$(TESTBIN)/goreleaser check

# A release of the tag at HEAD (docs/development.md, "Releasing"): the
# binaries, checksums and SBOMs on a GitHub release whose notes are the
# tag's section of CHANGELOG.md, the image on ghcr.io. DOCKER_HOST names no
# engine: ko would otherwise take the base image from a local engine where
# one holds it, a single platform, and build the image for that one alone.
release: release-bins
	@tag=$$(git describe --tags --exact-match HEAD) || { echo "release: HEAD is not tagged (git tag -s vX.Y.Z)" >&2; exit 1; }; \
	mkdir -p .cache && hack/goreleaser/notes.sh "$$tag" > .cache/release-notes.md && \
	PATH="$(TESTBIN):$$PATH" DOCKER_HOST=unix:///nonexistent $(TESTBIN)/goreleaser release --clean --release-notes .cache/release-notes.md

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Everything, end-to-end tests against real kube-apiservers included.
test: deps fmt-check vet build e2e-bins gator coredns-bin argocd-bin flux-bin promrules-bin release-check
	SSM_TESTBIN=$(TESTBIN) SSM_GATOR=$(TESTBIN)/gator SSM_COREDNS=$(TESTBIN)/coredns SSM_E2E_REQUIRED=1 SSM_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -race -count=1 -timeout 30m ./...

# Unit tests only: no API server needed.
unit:
	$(GO) test -race -count=1 ./generate/... ./source/... ./fileset/... ./gitsync/... ./config/... ./mirror/... ./cmd/...

# Benchmarks report ratios against a baseline measured in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

# The scale harness (e2e TestScale, docs/scale.md), not part of make test:
# SCALE Services of 10 addresses in a real kube-apiserver, ssm run into a
# local bare repository. BASELINE=<git revision> also measures ssm built at
# that revision, PEER=<binary> semaphore-service-mirror (hack/scale/peer.sh)
# at 1,000 Services; SSM_SCALE_* variables set the rest (docs/scale.md).
# FLEET=10,20,40 also runs the fleet harness (e2e TestFleet): that many
# kube-apiservers on one etcd, SSM_FLEET_SERVICES (250) Services each, one
# `ssm run --config` over them; SCALE= alone skips the 10,000-Service run.
SCALE ?= 10000
FLEET ?=
scale: build e2e-bins
	@base=; if [ -n "$(BASELINE)" ]; then base=$$(hack/scale/baseline.sh "$(BASELINE)" $(CURDIR)/.cache/scale) || exit 1; fi; \
	set -x; SSM_SCALE=$(SCALE) SSM_FLEET=$(FLEET) SSM_SCALE_BASELINE=$$base SSM_SCALE_PEER=$(PEER) SSM_TESTBIN=$(TESTBIN) SSM_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 240m -v -run '^(TestScale|TestFleet)$$' ./e2e

# The container image from the Dockerfile, with podman, or docker where
# podman is missing (or ENGINE=docker).
ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE  ?= ssm:$(VERSION)
image:
	$(ENGINE) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

# Native Go fuzzing, each target for FUZZTIME (CI: a few seconds each).
# Each new input is minimised for at most 100 runs: the default (60 s each)
# stalls the workers on large snapshots.
FUZZTIME  ?= 10m
FUZZFLAGS ?= -fuzzminimizetime 100x
fuzz:
	$(GO) test ./generate/internal/yamlemit -run '^$$' -fuzz '^FuzzEmitter$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./generate/internal/yamlemit -run '^$$' -fuzz '^FuzzTypedEqualsGeneric$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./generate/internal/yamlemit -run '^$$' -fuzz '^FuzzTypedShapes$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./mirror -run '^$$' -fuzz '^FuzzSnapshotRender$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./config -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./gitsync -run '^$$' -fuzz '^FuzzPathValidate$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./gitsync -run '^$$' -fuzz '^FuzzBranchValidate$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./internal/redact -run '^$$' -fuzz '^FuzzURL$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)

# The replica and crash tests for longer than make test runs them.
SOAK ?= 5m
soak: build e2e-bins
	SSM_SOAK=$(SOAK) SSM_TESTBIN=$(TESTBIN) SSM_E2E_REQUIRED=1 SSM_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 90m -v -run 'TestReplicas|TestCrash' ./e2e

# Render the bundled example snapshot, as README's first command does.
example:
	$(GO) run ./cmd/ssm render --from-file examples/snapshot/remote.yaml \
		--label-selector mirror=true --svc-prefix remote --mirror-ns remote-mirrors -o mirrors

clean:
	rm -rf bin mirrors dist
