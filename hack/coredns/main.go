// Command coredns is CoreDNS with its standard plugin set, exactly as the
// coredns.go of CoreDNS's repository builds it, so the end-to-end tests can
// build it from the Go module proxy and resolve names through what
// `ssm coredns` prints.
package main

import (
	_ "github.com/coredns/coredns/core/plugin" // the standard plugins, in plugin.cfg order
	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
