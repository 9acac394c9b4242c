//go:build tools

// Package gator pins the Gatekeeper release whose `gator verify` runs the
// test suites under examples/gatekeeper. It is its own module so the main
// go.mod stays clean.
package gator

import _ "github.com/open-policy-agent/gatekeeper/v3/cmd/gator"
