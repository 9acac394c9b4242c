//go:build tools

// Package goreleaser pins the GoReleaser release that checks .goreleaser.yaml
// and builds the snapshot release in `make test`, and makes the releases. It
// is its own module so the main go.mod stays clean.
package goreleaser

import _ "github.com/goreleaser/goreleaser/v2"
