package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// requireStrace skips without strace, unless the suite must run whole.
func requireStrace(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatal("strace is required (Debian package strace; make test installs it: hack/deps.sh)")
		}
		t.Skip("no strace")
	}
	return p
}

// killedAt runs ssm with args under strace, killing it with SIGKILL at the
// n-th call of syscall; it reports whether it was killed (false: ssm made
// fewer such calls and ran to its end).
func killedAt(t *testing.T, straceBin, syscallName string, n int, args ...string) bool {
	t.Helper()
	cmd := exec.Command(straceBin, append([]string{"-f", "-qq", "-o", "/dev/null", "-e", "trace=" + syscallName,
		"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", syscallName, n), ssmBin}, args...)...)
	out, err := cmd.CombinedOutput()
	recordOutput(t, "ssm "+strings.Join(args, " "), out)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && (ws.Signaled() || ee.ExitCode() == 128+int(syscall.SIGKILL)) {
			return true
		}
		if strings.Contains(string(out), "Killed") || ee.ExitCode() == 137 {
			return true
		}
		t.Fatalf("ssm %s under strace: %v\n%s", strings.Join(args, " "), err, out)
	case err != nil:
		t.Fatal(err)
	}
	return false
}

// TestCrashDirectory kills `ssm render -o DIR` at every call of every
// syscall it writes with, into an empty directory and over an earlier
// render; each time a plain rerun must succeed without help and leave
// exactly the render, no temporary file.
func TestCrashDirectory(t *testing.T) {
	requireEnv(t)
	straceBin := requireStrace(t)
	snapshot := "../examples/snapshot/remote.yaml"
	args := func(dir string) []string {
		return []string{"render", "--from-file", snapshot, "--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "mirrors",
			"--max-removals", "100%", "-o", dir}
	}
	want := filepath.Join(t.TempDir(), "want")
	if r := ssm(t, nil, args(want)...); r.code != 0 {
		t.Fatalf("render: %d %s", r.code, r.stderr)
	}
	older := filepath.Join(t.TempDir(), "older")
	if r := ssm(t, nil, "render", "--from-file", snapshot, "--label-selector", "mirror=true", "--svc-prefix", "remote",
		"--mirror-ns", "older", "-o", older); r.code != 0 {
		t.Fatalf("render: %d %s", r.code, r.stderr)
	}
	tried := 0
	for _, sc := range []string{"openat", "write", "fsync", "renameat", "unlinkat", "mkdirat", "flock"} {
		for _, start := range []string{"empty", "older"} {
			for n := 1; ; n++ {
				dir := filepath.Join(t.TempDir(), "out")
				if start == "older" {
					copyDir(t, older, dir)
				}
				if !killedAt(t, straceBin, sc, n, args(dir)...) {
					break
				}
				tried++
				if r := ssm(t, nil, args(dir)...); r.code != 0 {
					t.Fatalf("%s #%d (%s): the rerun failed: exit %d\n%s", sc, n, start, r.code, r.stderr)
				}
				assertSameTree(t, want, dir)
			}
		}
	}
	t.Logf("killed render at %d exact syscalls; every rerun converged", tried)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
}

// TestCrashGit kills `ssm run` at every call of the syscalls that write
// the local repository (objects, the ref lock, the ref), on its first
// commit and on a later one; each time a plain restart must commit the
// remote's state without help: git fsck clean, no lock or temporary file
// left, and the git CLI able to push after it.
func TestCrashGit(t *testing.T) {
	requireEnv(t)
	straceBin := requireStrace(t)
	ctx := t.Context()
	sel := map[string]string{"mirror.e2e/crash": "true"}
	mk := func(name, ip string) service {
		return service{ns: "crashshop", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(ip)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	mk("a", "10.70.0.1").apply(ctx, t, remote.Client)
	mk("b", "10.70.0.2").apply(ctx, t, remote.Client)
	const gitPath = "clusters/local/crash"
	want := []string{"c-crashshop-73736d-a.yaml", "c-crashshop-73736d-b.yaml", "kustomization.yaml"}
	tried := 0
	for _, sc := range []string{"fsync", "linkat", "renameat", "flock"} {
		for _, start := range []string{"first", "later"} {
			began, kills := time.Now(), 0
			for n := 1; n <= 40; n++ {
				bare := bareRepo(t)
				args := func(ns string) []string {
					return []string{"run", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/crash=true",
						"--svc-prefix", "c", "--mirror-ns", ns, "--git-url", bare, "--git-path", gitPath, "--debounce", "50ms", "--max-delay", "200ms"}
				}
				if start == "later" { // an earlier commit into another namespace: the crash hits an update
					r := startRun(t, "seed", args("older")[1:]...)
					eventually(t, 30*time.Second, "the seed commit", func() bool { return len(lsPath(t, bare, gitPath)) == 3 })
					r.terminate()
				}
				killed := runUntilCommitOrKill(t, straceBin, sc, n, bare, gitPath, want, args("crash-mirrors"))
				if !killed {
					break
				}
				tried, kills = tried+1, kills+1
				r := startRun(t, fmt.Sprintf("restart-%s-%d", sc, n), args("crash-mirrors")[1:]...)
				eventually(t, 30*time.Second, fmt.Sprintf("%s #%d (%s): the restart's commit", sc, n, start), func() bool {
					got := lsPath(t, bare, gitPath)
					return strings.Join(got, " ") == strings.Join(want, " ") && strings.Contains(git(t, bare, "show", "main:"+gitPath+"/"+want[0]), "namespace: crash-mirrors")
				})
				r.terminate()
				checkRepoClean(t, bare)
			}
			t.Logf("%s, %s commit: %d kill points in %s", sc, start, kills, time.Since(began).Round(time.Second))
		}
	}
	t.Logf("killed run at %d exact syscalls of its git writes; every restart converged", tried)
}

// runUntilCommitOrKill runs ssm under strace until it is killed or has
// committed the wanted files; then it stops it (not killed).
func runUntilCommitOrKill(t *testing.T, straceBin, sc string, n int, bare, gitPath string, want, args []string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, straceBin, append([]string{"-f", "-qq", "-o", "/dev/null", "-e", "trace=" + sc,
		"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", sc, n), ssmBin}, append(args, "--listen-address", "127.0.0.1:0", "--admin-address=")...)...)
	// strace and the ssm it traces share a process group, killed whole: a
	// tracee outlives a killed strace otherwise.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Every return below waits for the exit first.
	defer func() { recordOutput(t, "ssm "+strings.Join(args, " "), out.Bytes()) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	committed := func() bool {
		if strings.Join(lsPath(t, bare, gitPath), " ") != strings.Join(want, " ") {
			return false
		}
		out, err := exec.Command("git", "-C", bare, "show", "main:"+gitPath+"/"+want[0]).Output()
		return err == nil && strings.Contains(string(out), "namespace: crash-mirrors")
	}
	for {
		select {
		case <-done:
			return !committed() || ctx.Err() != nil
		case <-time.After(50 * time.Millisecond):
		}
		if ctx.Err() != nil {
			<-done
			t.Fatalf("%s #%d: ssm neither died nor committed within a minute", sc, n)
		}
		if committed() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return false
		}
	}
}

// checkRepoClean: git fsck passes, no lock or ssm temporary file is left,
// and the git CLI can push.
func checkRepoClean(t *testing.T, bare string) {
	t.Helper()
	git(t, bare, "fsck", "--full", "--strict")
	_ = filepath.WalkDir(bare, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".lock") || strings.Contains(d.Name(), "ssm") && strings.Contains(d.Name(), "tmp")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	gittest.HumanPush(t, bare, func(work string) {
		gittest.WriteFiles(t, work, map[string]string{fmt.Sprintf("apps/after-%d.yaml", rand.IntN(1e9)): "kind: ConfigMap\n"})
	}, "a person pushes after the crash")
}

// TestCrashRandom kills `ssm run` with SIGKILL at random moments while
// the remote churns, for both sinks, and starts it again at once; after
// the churn, the last start converges to the remote: a clean repository
// (or directory) equal to a render, nothing left behind.
func TestCrashRandom(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const ns, n = "crashrand", 6
	sel := map[string]string{"mirror.e2e/crashrand": "true"}
	svc := func(i, v int) service {
		return service{ns: ns, name: fmt.Sprintf("s-%d", i), labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(versionIP(v))}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	for i := range n {
		svc(i, 0).apply(ctx, t, remote.Client)
	}
	common := []string{"--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/crashrand=true", "--svc-prefix", "cr",
		"--mirror-ns", "crashrand", "--debounce", "50ms", "--max-delay", "300ms"}
	kills := churnFor(t, 0)/time.Minute*10 + 10
	for _, sink := range []string{"git", "dir"} {
		t.Run(sink, func(t *testing.T) {
			bare, dir := bareRepo(t), filepath.Join(t.TempDir(), "out")
			args := append(common, "--git-url", bare, "--git-path", "clusters/local/cr")
			if sink == "dir" {
				args = append(common, "--output", dir)
			}
			versions := make([]int, n)
			for k := range int(kills) {
				p := startRun(t, fmt.Sprintf("%s-%d", sink, k), args...)
				end := time.Now().Add(time.Duration(100+rand.IntN(1400)) * time.Millisecond)
				for time.Now().Before(end) {
					i := rand.IntN(n)
					versions[i]++
					setEndpoints(t, ns, fmt.Sprintf("s-%d", i), versionIP(versions[i]))
					time.Sleep(30 * time.Millisecond)
				}
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			last := startRun(t, sink+"-last", args...)
			want := filepath.Join(t.TempDir(), "want")
			r := ssm(t, nil, append([]string{"render", "-o", want}, common[:len(common)-4]...)...)
			if r.code != 0 {
				t.Fatalf("render: %d %s", r.code, r.stderr)
			}
			got := dir
			eventually(t, 30*time.Second, "convergence after the kills", func() bool {
				if sink == "git" {
					got = filepath.Join(checkout(t, bare), "clusters/local/cr")
				}
				return reflectEqual(readTree(t, want), readTree(t, got))
			})
			last.terminate()
			if sink == "git" {
				checkRepoClean(t, bare)
			} else {
				_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
					if err == nil && strings.Contains(d.Name(), ".tmp-") {
						t.Errorf("left behind: %s", p)
					}
					return nil
				})
			}
			t.Logf("%s: %d SIGKILLs at random moments during churn; converged", sink, kills)
		})
	}
}

func reflectEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
