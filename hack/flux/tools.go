//go:build tools

// Package flux pins the Flux kustomize-controller the end-to-end tests run
// against. It is its own module so the main go.mod stays clean.
package flux

import (
	_ "github.com/fluxcd/kustomize-controller"
)
