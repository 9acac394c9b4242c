package migrate

import (
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Script writes the leftovers as a shell script of kubectl deletes, each
// under a comment saying why; cluster names the local cluster in its
// header. It deletes nothing that is already gone, and stops at the first
// failure.
func Script(w io.Writer, cluster string, ls []Leftover) error {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# What semaphore-service-mirror left in %s that ssm does not render: %d object(s).\n", cluster, len(ls))
	b.WriteString("# Run it once ssm's render is applied and semaphore-service-mirror is stopped.\nset -e\n")
	for _, l := range ls {
		fmt.Fprintf(&b, "\n# %s\nkubectl delete --ignore-not-found --namespace %s %s %s\n", oneLine(l.Why), shellQuote(l.Namespace), l.Resource, shellQuote(l.Name))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// List writes the leftovers as a v1 List of their manifests' identities,
// each with why in the annotation ssm.dev/migrate-reason: what
// `kubectl delete -f` takes, and a reviewer reads.
func List(w io.Writer, ls []Leftover) error {
	type meta struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
	}
	type item struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   meta   `json:"metadata"`
	}
	list := struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Items      []item `json:"items"`
	}{APIVersion: "v1", Kind: "List", Items: []item{}}
	for _, l := range ls {
		list.Items = append(list.Items, item{l.APIVersion, l.Kind, meta{l.Name, l.Namespace, map[string]string{"ssm.dev/migrate-reason": l.Why}}})
	}
	b, err := yaml.Marshal(list)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// shellQuote quotes s for sh unless it is a plain Kubernetes name.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// oneLine keeps a comment on one line whatever a name holds.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }
