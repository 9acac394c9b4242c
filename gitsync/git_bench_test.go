package gitsync

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// BenchmarkSync measures committing and pushing one changed file into an
// owned path that already holds N files against a local bare repository:
// ssm reading and writing it directly, and as the baseline the git CLI in a
// working clone (add, commit, push). The files are laid out as generate
// renders them: flat (one folder, the default layout) or one folder per
// remote namespace of 100 files each (--layout namespaces). Each ssm line
// also reports its time as a ratio to the git CLI's for the same N and
// layout (x-git-cli), and each N=10000 line its ratio to N=100 in the same
// layout (x-100-files).
func BenchmarkSync(b *testing.B) {
	perOp := map[string]float64{}
	for _, layout := range []string{"flat", "namespaces"} {
		for _, n := range []int{100, 10000} {
			for _, impl := range []struct {
				name string
				run  func(*testing.B, fileset.Files, string)
			}{{"git-cli", benchSyncGitCLI}, {"ssm", benchSyncSSM}} {
				b.Run(fmt.Sprintf("%s/layout=%s/files=%d", impl.name, layout, n), func(b *testing.B) {
					b.ReportAllocs()
					files, target := benchFiles(n, layout == "namespaces")
					impl.run(b, files, target)
					t := float64(b.Elapsed()) / float64(b.N)
					key := func(impl string, n int) string { return fmt.Sprint(impl, layout, n) }
					perOp[key(impl.name, n)] = t
					if base := perOp[key("git-cli", n)]; impl.name == "ssm" && base > 0 {
						b.ReportMetric(t/base, "x-git-cli")
					}
					if small := perOp[key(impl.name, 100)]; n != 100 && small > 0 {
						b.ReportMetric(t/small, "x-100-files")
					}
				})
			}
		}
	}
}

// benchFiles returns n Service manifests of about 1 KiB with the
// kustomization.yaml files listing them, and the path of one of them. Flat,
// all are in one folder; byNamespace, in folders of 100 (a remote
// namespace each), with a kustomization.yaml at the top listing the folders.
func benchFiles(n int, byNamespace bool) (fileset.Files, string) {
	const perFolder = 100
	files := fileset.Files{}
	folders := map[string][]string{}
	var target string
	for i := range n {
		ns := fmt.Sprintf("ns%03d", i%max(n/perFolder, 1))
		name := fmt.Sprintf("mirror-%s-73736d-service-%05d.yaml", ns, i)
		dir := ""
		if byNamespace {
			dir = ns + "/"
		}
		files[dir+name] = benchManifest(name, 0)
		folders[dir] = append(folders[dir], name)
		if i == n/2 {
			target = dir + name
		}
	}
	var top []string
	for dir, names := range folders {
		files[dir+"kustomization.yaml"] = kustomization(names)
		if dir != "" {
			top = append(top, strings.TrimSuffix(dir, "/"))
		}
	}
	if byNamespace {
		files["kustomization.yaml"] = kustomization(top)
	}
	return files, target
}

func kustomization(resources []string) []byte {
	slices.Sort(resources)
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, r := range resources {
		fmt.Fprintf(&k, "- %s\n", r)
	}
	return []byte(k.String())
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

func benchSyncSSM(b *testing.B, files fileset.Files, target string) {
	bare := gittest.NewBare(b)
	gittest.HumanPush(b, bare, func(w string) {
		gittest.WriteFiles(b, w, map[string]string{"README.md": "# fleet\n", "clusters/dev/app.yaml": "kind: ConfigMap\n"})
	}, "seed")
	r := open(b, bare, "clusters/prod", func(o *RepoOptions) { o.Logger = nil })
	mustSync(b, r, files)
	versions := [][]byte{benchManifest(path.Base(target), 1), benchManifest(path.Base(target), 2)}
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

func benchSyncGitCLI(b *testing.B, files fileset.Files, target string) {
	bare := gittest.NewBare(b)
	work := b.TempDir()
	gittest.Git(b, work, "init", "-q", "-b", "main")
	gittest.Git(b, work, "remote", "add", "origin", bare)
	gittest.WriteFiles(b, work, map[string]string{"README.md": "# fleet\n", "clusters/dev/app.yaml": "kind: ConfigMap\n"})
	gittest.WriteFiles(b, filepath.Join(work, "clusters/prod"), under("", files))
	gittest.Git(b, work, "add", "-A")
	gittest.Git(b, work, "commit", "-q", "-m", "seed")
	gittest.Git(b, work, "push", "-q", "origin", "main")
	versions := [][]byte{benchManifest(path.Base(target), 1), benchManifest(path.Base(target), 2)}
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
