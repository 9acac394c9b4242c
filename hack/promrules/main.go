// Command promrules checks Prometheus rule files as Prometheus loads them
// (its rulefmt package: YAML, PromQL, label names, templates), for the
// tests of examples/monitoring: promtool itself takes minutes to build
// from the module proxy. A PrometheusRule's spec is read as a rule file.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: promrules FILE...")
		os.Exit(2)
	}
	failed := false
	for _, f := range os.Args[1:] {
		n, err := check(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
			failed = true
			continue
		}
		fmt.Printf("%s: %d rules\n", f, n)
	}
	if failed {
		os.Exit(1)
	}
}

// check parses f as Prometheus does and returns how many rules it holds.
func check(f string) (int, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return 0, err
	}
	var obj struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err == nil && obj.Kind == "PrometheusRule" {
		if b, err = yaml.Marshal(obj.Spec); err != nil {
			return 0, err
		}
	}
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		var msg bytes.Buffer
		for _, e := range errs {
			fmt.Fprintf(&msg, "\n  %v", e)
		}
		return 0, fmt.Errorf("invalid rules:%s", msg.String())
	}
	n := 0
	for _, g := range groups.Groups {
		n += len(g.Rules)
	}
	return n, nil
}
