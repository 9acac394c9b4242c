package generate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
)

// TestKustomizeYAMLWords lists folders and files whose names YAML reads
// plain as booleans, null, numbers or a date: the kustomization must list
// them as the strings they are (kustomize refuses a tree otherwise;
// e2e TestLayoutNamespacesYAMLWords builds one).
func TestKustomizeYAMLWords(t *testing.T) {
	names := []string{"0123", "1e3", "2001-12-14", "NO", "Off", "null", "on", "true", "web", "y", "yes"}
	files := map[string][]byte{}
	for _, n := range names {
		files["imports/"+n+"/web.yaml"] = nil
		files["imports/"+n+".yaml"] = nil
	}
	generate.Kustomize(files)
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(files["imports/kustomization.yaml"], &k); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range names {
		want = append(want, n+".yaml")
	}
	want = append(want, names...)
	if diff := cmp.Diff(want, k.Resources); diff != "" {
		t.Errorf("resources read back (-want +got):\n%s\n%s", diff, files["imports/kustomization.yaml"])
	}
}
