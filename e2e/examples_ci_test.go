package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestExamplesCISnapshot runs the offline job of each CI example as its CI
// would, its variables set and this ssm on PATH, in a repository holding
// a snapshot: the rendering re-made with the command the file's comments
// give passes it; a flag changed without re-making it fails it, as does a
// prefix too long for the mirror names; and a pod that moves in the
// cluster cannot fail it, since nothing reads the cluster.
func TestExamplesCISnapshot(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	for _, tc := range []struct {
		file string
		job  func(doc map[string]any) (env map[string]string, script string)
	}{
		{file: "github-actions.yaml", job: func(doc map[string]any) (map[string]string, string) {
			steps, _ := dig(doc, "jobs", "snapshot", "steps").([]any)
			for _, s := range steps {
				if step, _ := s.(map[string]any); step["name"] == "ssm render --check" {
					run, _ := step["run"].(string)
					return stringMap(doc["env"]), run
				}
			}
			return nil, ""
		}},
		{file: ".gitlab-ci.yml", job: func(doc map[string]any) (map[string]string, string) {
			lines, _ := dig(doc, "ssm-snapshot", "script").([]any)
			var script []string
			for _, l := range lines {
				script = append(script, l.(string))
			}
			return stringMap(doc["variables"]), strings.Join(script, "\n")
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(examplesDir, "ci", tc.file)
			data := readExampleFile(t, path)
			var doc map[string]any
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			env, script := tc.job(doc)
			if script == "" || !strings.HasPrefix(env["SSM_VERSION"], "v0.") {
				t.Fatalf("%s: no offline job's ssm render, or no pinned SSM_VERSION (%q)", path, env["SSM_VERSION"])
			}
			remake := remakeCommand.FindSubmatch(data)
			if remake == nil {
				t.Fatalf("%s: no comment saying how to re-make the rendering", path)
			}
			repo := t.TempDir()
			writeTreeFile(t, filepath.Join(repo, "snapshots", "east.yaml"), readExampleFile(t, filepath.Join(examplesDir, "snapshot", "remote.yaml")))
			job := func(script string, change map[string]string) result {
				t.Helper()
				var vars []string
				for k, v := range env {
					vars = append(vars, k+"="+v)
				}
				for k, v := range change {
					vars = append(vars, k+"="+v)
				}
				vars = append(vars, "PATH="+filepath.Dir(ssmBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
				cmd := exec.Command("sh", "-e", "-c", script)
				cmd.Dir, cmd.Env = repo, append(os.Environ(), vars...)
				out, err := cmd.CombinedOutput()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return result{stdout: string(out), code: code}
			}
			if filepath.Base(ssmBin) != "ssm" {
				t.Skipf("SSM_BIN %s is not named ssm: the jobs run `ssm`", ssmBin)
			}
			if r := job(string(remake[1]), nil); r.code != 0 {
				t.Fatalf("%s: re-making the rendering (%s): exit %d\n%s", path, remake[1], r.code, r.stdout)
			}
			if r := job(script, nil); r.code != 0 {
				t.Errorf("%s: the offline job fails on the rendering it asks for: exit %d\n%s", path, r.code, r.stdout)
			}
			if r := job(script, map[string]string{"SSM_SVC_PREFIX": "west"}); r.code != 1 || !strings.Contains(r.stdout, "+  name: west-shop-73736d-web") {
				t.Errorf("%s: the offline job passes a changed flag without its rendering: exit %d\n%s", path, r.code, r.stdout)
			}
			long := map[string]string{"SSM_SVC_PREFIX": "a-prefix-so-long-that-no-mirror-name-fits-in-63"}
			if r := job(script, long); r.code == 0 || !strings.Contains(r.stdout, "reason=InvalidName") {
				t.Errorf("%s: the offline job passes names over 63 characters: exit %d\n%s", path, r.code, r.stdout)
			}
		})
	}
}

// remakeCommand is the command a CI example's comments give for making the
// rendering of the snapshot again.
var remakeCommand = regexp.MustCompile(`(?m)^#\s+(ssm render --from-file snapshots/\S+ -o \S+)$`)

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
