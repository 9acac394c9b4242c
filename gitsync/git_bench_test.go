package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// BenchmarkSync measures committing and pushing one changed file into an
// owned path that already holds N files, laid out flat as generate renders
// them, against a local bare repository: ssm reading and writing it directly,
// and as the baseline the git CLI in a working clone (add, commit, push).
// Each ssm line also reports its time as a ratio to the git CLI's for the
// same N (x-git-cli), and each N=10000 line its ratio to N=100
// (x-100-files).
func BenchmarkSync(b *testing.B) {
	perOp := map[string]float64{}
	for _, n := range []int{100, 10000} {
		for _, impl := range []struct {
			name string
			run  func(*testing.B, int)
		}{{"git-cli", benchSyncGitCLI}, {"ssm", benchSyncSSM}} {
			b.Run(fmt.Sprintf("%s/files=%d", impl.name, n), func(b *testing.B) {
				b.ReportAllocs()
				impl.run(b, n)
				t := float64(b.Elapsed()) / float64(b.N)
				perOp[fmt.Sprint(impl.name, n)] = t
				if base := perOp[fmt.Sprint("git-cli", n)]; impl.name == "ssm" && base > 0 {
					b.ReportMetric(t/base, "x-git-cli")
				}
				if small := perOp[fmt.Sprint(impl.name, 100)]; n != 100 && small > 0 {
					b.ReportMetric(t/small, "x-100-files")
				}
			})
		}
	}
}

// benchFiles returns n Service manifests of about 1 KiB and a
// kustomization.yaml listing them, and the name of one of them.
func benchFiles(n int) (Files, string) {
	files := Files{}
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for i := range n {
		name := fmt.Sprintf("mirror-ns%03d-73736d-service-%05d.yaml", i%97, i)
		files[name] = benchManifest(name, 0)
		fmt.Fprintf(&k, "- %s\n", name)
	}
	files["kustomization.yaml"] = []byte(k.String())
	return files, fmt.Sprintf("mirror-ns%03d-73736d-service-%05d.yaml", (n/2)%97, n/2)
}

func benchManifest(name string, version int) []byte {
	var s strings.Builder
	fmt.Fprintf(&s, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: mirror\n", strings.TrimSuffix(name, ".yaml"))
	fmt.Fprintf(&s, "  labels:\n    mirror.ssm.dev/version: %q\n    app.kubernetes.io/managed-by: ssm\n", fmt.Sprint(version))
	s.WriteString("spec:\n  ports:\n")
	for p := 0; s.Len() < 1000; p++ {
		fmt.Fprintf(&s, "  - name: port-%d\n    port: %d\n    protocol: TCP\n    targetPort: %d\n", p, 8000+p, 9000+p)
	}
	return []byte(s.String())
}

func benchSyncSSM(b *testing.B, n int) {
	bare := gittest.NewBare(b)
	gittest.HumanPush(b, bare, func(w string) {
		gittest.WriteFiles(b, w, map[string]string{"README.md": "# fleet\n", "clusters/dev/app.yaml": "kind: ConfigMap\n"})
	}, "seed")
	r := open(b, bare, "clusters/prod", func(o *RepoOptions) { o.Logger = nil })
	files, target := benchFiles(n)
	mustSync(b, r, files)
	versions := [][]byte{benchManifest(target, 1), benchManifest(target, 2)}
	i := 0
	for b.Loop() {
		i++
		files[target] = versions[i%2]
		res, err := r.Sync(b.Context(), files, "bench")
		if err != nil || !res.Changed {
			b.Fatalf("Sync = %+v, %v", res, err)
		}
	}
}

func benchSyncGitCLI(b *testing.B, n int) {
	bare := gittest.NewBare(b)
	work := b.TempDir()
	gittest.Git(b, work, "init", "-q", "-b", "main")
	gittest.Git(b, work, "remote", "add", "origin", bare)
	files, target := benchFiles(n)
	gittest.WriteFiles(b, work, map[string]string{"README.md": "# fleet\n", "clusters/dev/app.yaml": "kind: ConfigMap\n"})
	gittest.WriteFiles(b, filepath.Join(work, "clusters/prod"), under("", files))
	gittest.Git(b, work, "add", "-A")
	gittest.Git(b, work, "commit", "-q", "-m", "seed")
	gittest.Git(b, work, "push", "-q", "origin", "main")
	versions := [][]byte{benchManifest(target, 1), benchManifest(target, 2)}
	p := filepath.Join(work, "clusters/prod", target)
	i := 0
	for b.Loop() {
		i++
		if err := os.WriteFile(p, versions[i%2], 0o644); err != nil {
			b.Fatal(err)
		}
		gittest.Git(b, work, "add", "-A")
		gittest.Git(b, work, "commit", "-q", "-m", "bench")
		gittest.Git(b, work, "push", "-q", "origin", "main")
	}
}
