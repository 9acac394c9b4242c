package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRelease makes a snapshot release of this tree with the GoReleaser
// and cyclonedx-gomod that `make release` runs (.goreleaser.yaml), in a
// clone of its own, and checks what a release would publish: an archive
// for each platform holding a static binary built as `make build` builds,
// a checksums file that README's command verifies, an SBOM per archive
// naming the modules its binary links, and the image, run as the Deployment
// runs it. ko loads a snapshot's image into a container engine: podman's
// docker API here, which also holds the base image (the stand-in of
// hack/image/bases.sh, as for TestImage, where the real one was not
// pulled), so the image is built for the engine's platform alone.
func TestRelease(t *testing.T) {
	t.Parallel()
	tools := releaseTools(t)
	p := newPodman(t)
	clone := releaseClone(t)
	docker := podmanService(t, p)
	if p.cmd("image", "exists", "gcr.io/distroless/static-debian12:nonroot").Run() != nil {
		bases := exec.Command("../hack/image/bases.sh", "podman")
		bases.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
		if out, err := bases.CombinedOutput(); err != nil {
			t.Fatalf("bases: %v\n%s", err, out)
		}
	}

	start := time.Now()
	env := []string{"PATH=" + tools + string(os.PathListSeparator) + os.Getenv("PATH"), "DOCKER_HOST=" + docker}
	// Cold, this cross-compiles ssm and its modules for three more
	// platforms: minutes.
	out := goCmdFor(t, 25*time.Minute, clone, env, filepath.Join(tools, "goreleaser"), "release", "--snapshot", "--clean")
	t.Logf("snapshot release built in %s", time.Since(start).Round(time.Second))
	dist := filepath.Join(clone, "dist")
	var meta struct{ Version, Commit string }
	readJSON(t, filepath.Join(dist, "metadata.json"), &meta)
	if !strings.Contains(meta.Version, "-snapshot.") || len(meta.Commit) != 40 {
		t.Fatalf("dist/metadata.json: version %q, commit %q: not a snapshot of a commit\n%s", meta.Version, meta.Commit, out)
	}
	wantVersion := fmt.Sprintf("ssm v%s (commit %s, go", meta.Version, meta.Commit[:7])

	// README's verification, as a user runs it in the folder of the
	// downloads.
	sums := fmt.Sprintf("ssm_%s_checksums.txt", meta.Version)
	if got := goCmd(t, dist, nil, "sha256sum", "--check", "--ignore-missing", sums); strings.Count(got, ": OK\n") != 8 {
		t.Errorf("sha256sum --check %s: want 4 archives and 4 SBOMs OK:\n%s", sums, got)
	}
	for _, goos := range []string{"linux", "darwin"} {
		for _, goarch := range []string{"amd64", "arm64"} {
			archive := fmt.Sprintf("ssm_%s_%s_%s.tar.gz", meta.Version, goos, goarch)
			t.Run(goos+"-"+goarch, func(t *testing.T) {
				bin := checkArchive(t, filepath.Join(dist, archive), goos, goarch)
				checkSBOM(t, filepath.Join(dist, archive+".sbom.json"), bin, goos, goarch)
				if goos == "linux" && goarch == "amd64" {
					if got := goCmd(t, "", nil, bin, "version"); !strings.HasPrefix(got, wantVersion) {
						t.Errorf("%s: ssm version = %q, want %q…", archive, got, wantVersion)
					}
				}
			})
		}
	}
	checkReleaseImage(t, p, "goreleaser.ko.local:v"+meta.Version, wantVersion)
}

// releaseTools is the folder holding goreleaser and cyclonedx-gomod
// (make release-bins builds them next to kube-apiserver).
func releaseTools(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"goreleaser", "cyclonedx-gomod"} {
		if _, err := os.Stat(filepath.Join(testbin, tool)); err != nil {
			if os.Getenv("SSM_E2E_REQUIRED") != "" {
				t.Fatalf("no %s (make release-bins builds it): %v", tool, err)
			}
			t.Skipf("no %s in %s: run `make test`, which builds it", tool, testbin)
		}
	}
	return testbin
}

// releaseClone is a git repository of this tree, one commit with a remote
// as in a clone: GoReleaser reads the commit, and the remote's URL.
func releaseClone(t *testing.T) string {
	t.Helper()
	clone := t.TempDir()
	for name, data := range treeFiles(t) {
		writeTreeFile(t, filepath.Join(clone, name), data)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"remote", "add", "origin", "https://github.com/ssm-dev/ssm.git"},
		{"add", "-A"},
		{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "commit", "-q", "-m", "snapshot"},
	} {
		goCmd(t, clone, nil, "git", args...)
	}
	return clone
}

// podmanService serves podman's docker API on a socket of the test's own
// until the test ends, and returns its DOCKER_HOST.
func podmanService(t *testing.T, p podman) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podman.sock")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "podman", "system", "service", "--time=0", "unix://"+sock)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("podman system service: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get("http://podman/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "unix://" + sock
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman's docker API on %s: not answering after a minute: %v", sock, err)
		}
	}
}

// checkArchive checks an archive's files and its binary: static, for its
// platform, built as `make build` builds (no cgo, -trimpath; Go records no
// -ldflags with -trimpath: the version is checked by running it). It
// returns the binary, extracted.
func checkArchive(t *testing.T, archive, goos, goarch string) string {
	t.Helper()
	files := untar(t, archive)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"CHANGELOG.md", "LICENSE", "README.md", "ssm"}; !slices.Equal(names, want) {
		t.Errorf("%s holds %v, want %v", archive, names, want)
	}
	bin := filepath.Join(t.TempDir(), "ssm")
	if err := os.WriteFile(bin, files["ssm"], 0o755); err != nil {
		t.Fatal(err)
	}
	switch goos {
	case "linux":
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: ssm is not an ELF binary: %v", archive, err)
		}
		defer f.Close()
		machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
		if f.Machine != machine {
			t.Errorf("%s: ssm is for %v, want %v", archive, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: ssm is linked dynamically (%v)", archive, p.Type)
			}
		}
	case "darwin":
		f, err := macho.Open(bin)
		if err != nil {
			t.Fatalf("%s: ssm is not a Mach-O binary: %v", archive, err)
		}
		defer f.Close()
		cpu := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Cpu != cpu {
			t.Errorf("%s: ssm is for %v, want %v", archive, f.Cpu, cpu)
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[key] != want {
			t.Errorf("%s: ssm built with %s=%q, want %q", archive, key, settings[key], want)
		}
	}
	return bin
}

// checkSBOM checks that an archive's SBOM is CycloneDX for its platform and
// lists exactly the modules its binary links, at their versions.
func checkSBOM(t *testing.T, path, bin, goos, goarch string) {
	t.Helper()
	var sbom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name       string `json:"name"`
				Properties []struct{ Name, Value string }
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	readJSON(t, path, &sbom)
	props := map[string]string{}
	for _, p := range sbom.Metadata.Component.Properties {
		props[p.Name] = p.Value
	}
	if sbom.BOMFormat != "CycloneDX" || sbom.Metadata.Component.Name != "github.com/ssm-dev/ssm" ||
		props["cdx:gomod:build:env:GOOS"] != goos || props["cdx:gomod:build:env:GOARCH"] != goarch {
		t.Errorf("%s: not a CycloneDX SBOM of ssm for %s/%s: format %q, component %q, properties %v",
			path, goos, goarch, sbom.BOMFormat, sbom.Metadata.Component.Name, props)
	}
	var listed []string
	for _, c := range sbom.Components {
		if strings.HasPrefix(c.PURL, "pkg:golang/") && c.Name != "std" {
			listed = append(listed, c.Name+"@"+c.Version)
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var linked []string
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		linked = append(linked, d.Path+"@"+d.Version)
	}
	slices.Sort(listed)
	slices.Sort(linked)
	if !slices.Equal(listed, linked) || len(linked) < 10 {
		t.Errorf("%s lists %d modules, the binary links %d:\nSBOM:   %v\nbinary: %v", path, len(listed), len(linked), listed, linked)
	}
}

// checkReleaseImage runs the snapshot's image as the Deployment runs it,
// and checks what the Dockerfile's image also has: distroless's user
// 65532 and the OCI labels.
func checkReleaseImage(t *testing.T, p podman, image, wantVersion string) {
	t.Helper()
	var inspect []struct {
		ID           string `json:"Id"`
		Architecture string
		Config       struct {
			User   string
			Labels map[string]string
		}
	}
	if err := json.Unmarshal([]byte(p.run(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect %s: %v", image, err)
	}
	got := inspect[0]
	// ko tagged it three times: its digest, the version and latest.
	t.Cleanup(func() { _ = p.cmd("rmi", "-f", got.ID).Run() })
	if got.Config.User != "65532:65532" || got.Architecture != "amd64" ||
		!strings.HasPrefix(wantVersion, "ssm "+got.Config.Labels["org.opencontainers.image.version"]+" ") ||
		got.Config.Labels["org.opencontainers.image.source"] != "https://github.com/ssm-dev/ssm" {
		t.Errorf("image %s: user %q, architecture %q, labels %v", image, got.Config.User, got.Architecture, got.Config.Labels)
	}
	out := p.run(t, "run", "--rm", "--read-only", "--network=none", "--cap-drop=ALL", image, "version")
	if !strings.HasPrefix(out, wantVersion) {
		t.Errorf("image %s: ssm version = %q, want %q…", image, out, wantVersion)
	}
}

func untar(t *testing.T, archive string) map[string][]byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", archive, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", archive, h.Name, err)
		}
		files[h.Name] = data
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestReleaseNotes: make release hands GoReleaser a version's section of
// CHANGELOG.md, and refuses a version without one.
func TestReleaseNotes(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "../hack/goreleaser/notes.sh", "v0.1.0")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ssm as of commit 48435c4") || !strings.Contains(r.stdout, "\n### Added\n") ||
		strings.Contains(r.stdout, "## [") || strings.Contains(r.stdout, "[Unreleased]:") {
		t.Errorf("notes.sh v0.1.0: exit %d, not CHANGELOG.md's section of 0.1.0 alone:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "../hack/goreleaser/notes.sh", "v9.9.9")
	if r.code == 0 || !strings.Contains(r.stderr, `no section "## [9.9.9]"`) {
		t.Errorf("notes.sh v9.9.9: exit %d, want a refusal:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
