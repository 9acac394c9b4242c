// Command ssm renders the Services of remote Kubernetes clusters as
// selector-less mirror Services and endpoints for GitOps: `ssm render` once
// (for CI), `ssm run` on every change, committed to git or a directory.
//
// It turns flags and SSM_* variables into config.Overrides, runs
// mirror.RunOnce or mirror.Run on a sink (fileset's, or a git branch with
// gitsync's options), serves ssm run's HTTP endpoints
// (cmd/ssm/internal/server) and maps outcomes to exit statuses. It is the
// one place that names flags in errors (flagOf). Of this module it imports
// config, mirror, fileset, gitsync, generate (defaults), its internal
// server, completion, coredns, help and logging, migrate, and the leaves
// internal/buildinfo and internal/field. Only this package exits the
// process.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is ssm's GOGC. Most of its heap is long-lived: informer caches
// and rendered files; a change allocates a few MB. Go's default (100) lets
// the heap grow to twice what is live before collecting, so half of ssm's
// RSS would be room for garbage it rarely makes: at 10,000 Services, 50
// keeps the peak RSS 35 MiB lower for no CPU a change we could measure
// (docs/scale.md).
const gcPercent = 50

func main() {
	tuneGC(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// tuneGC sets the collector's target to gcPercent, unless GOGC is set: the
// user's setting wins, as Go's own.
func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, ok := lookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
}
