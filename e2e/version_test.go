package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVersionFromBuildInfo builds ssm as a user without make would, with
// the real go command, and checks what `ssm version` says: from a clone
// (go install ./cmd/ssm: the tag and the commit git knows, -dirty for a
// changed tree) and from the module (go install …/cmd/ssm@v0.1.0, served
// by a file proxy holding this tree as the module zip the real proxy
// would: the version).
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	files := treeFiles(t)
	cache := goEnv(t, "GOMODCACHE")

	t.Run("clone", func(t *testing.T) {
		t.Parallel()
		clone := t.TempDir()
		for name, data := range files {
			writeTreeFile(t, filepath.Join(clone, name), data)
		}
		git := func(args ...string) string {
			t.Helper()
			return strings.TrimSpace(goCmd(t, clone, nil, "git", args...))
		}
		git("init", "-q", "-b", "main")
		git("add", "-A")
		git("-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "commit", "-q", "-m", "release")
		git("tag", "v0.1.0")
		short := git("rev-parse", "--short=7", "HEAD")

		bin := t.TempDir()
		// GOFLAGS replaces a -buildvcs=false of the machine's go env.
		env := []string{"GOBIN=" + bin, "GOFLAGS=-buildvcs=auto", "CGO_ENABLED=0"}
		goCmd(t, clone, env, "go", "install", "-trimpath", "./cmd/ssm")
		want := "ssm v0.1.0 (commit " + short + ", go"
		if got := goCmd(t, clone, nil, filepath.Join(bin, "ssm"), "version"); !strings.HasPrefix(got, want) {
			t.Errorf("a clone at v0.1.0: ssm version = %q, want %q…", got, want)
		}

		writeTreeFile(t, filepath.Join(clone, "README.md"), append(files["README.md"], "changed\n"...))
		goCmd(t, clone, env, "go", "install", "-trimpath", "./cmd/ssm")
		want = "ssm v0.1.0+dirty (commit " + short + "-dirty, go"
		if got := goCmd(t, clone, nil, filepath.Join(bin, "ssm"), "version"); !strings.HasPrefix(got, want) {
			t.Errorf("a changed clone: ssm version = %q, want %q…", got, want)
		}
	})

	t.Run("module", func(t *testing.T) {
		t.Parallel()
		const module, version = "github.com/ssm-dev/ssm", "v0.1.0"
		proxy := t.TempDir()
		dir := filepath.Join(proxy, module, "@v")
		writeTreeFile(t, filepath.Join(dir, "list"), []byte(version+"\n"))
		writeTreeFile(t, filepath.Join(dir, version+".info"), []byte(`{"Version":"`+version+`"}`))
		writeTreeFile(t, filepath.Join(dir, version+".mod"), files["go.mod"])
		writeTreeFile(t, filepath.Join(dir, version+".zip"), moduleZip(t, module+"@"+version, files))

		bin := t.TempDir()
		// A module cache of the test's own, so that this stand-in for
		// v0.1.0 never reaches the real one; the dependencies come from
		// the real one's download cache, offline, so the checksum database
		// is out of reach: off.
		env := []string{"GOBIN=" + bin, "GOMODCACHE=" + t.TempDir(), "GOFLAGS=-modcacherw",
			"GOPROXY=file://" + proxy + ",file://" + filepath.Join(cache, "cache", "download"),
			"GOSUMDB=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local"}
		goCmd(t, t.TempDir(), env, "go", "install", "-trimpath", module+"/cmd/ssm@"+version)
		want := "ssm v0.1.0 (commit unknown, go"
		if got := goCmd(t, "", nil, filepath.Join(bin, "ssm"), "version"); !strings.HasPrefix(got, want) {
			t.Errorf("go install %s/cmd/ssm@%s: ssm version = %q, want %q…", module, version, got, want)
		}
	})
}

// treeFiles reads the files of the repository that git would commit (this
// tree as it is, changes included) but those of the hack/ tool modules.
func treeFiles(t *testing.T) map[string][]byte {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := goCmd(t, root, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	files := map[string][]byte{}
	for name := range strings.SplitSeq(strings.TrimSuffix(out, "\x00"), "\x00") {
		if strings.HasPrefix(name, "hack/") {
			continue // modules of their own: not part of ssm's module zip
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	if files["go.mod"] == nil || files["cmd/ssm/main.go"] == nil {
		t.Fatalf("git ls-files in %s lists no go.mod or cmd/ssm/main.go", root)
	}
	return files
}

// moduleZip is a module zip as the Go module proxy serves it: every file
// under module@version/.
func moduleZip(t *testing.T, prefix string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(prefix + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTreeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(goCmd(t, "", nil, "go", "env", name))
}

// goCmd runs a command in dir and returns its stdout; a build may take
// minutes on a busy machine.
func goCmd(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	return goCmdFor(t, 10*time.Minute, dir, env, name, args...)
}

func goCmdFor(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
