// Command ssm renders the Services of remote Kubernetes clusters as
// selector-less mirror Services and endpoints for GitOps: `ssm render` once
// (for CI), `ssm run` on every change, committed to git or a directory.
//
// It wires the packages together: source (remote state in), generate (pure
// rendering) and gitsync (files out). Only this package exits the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
