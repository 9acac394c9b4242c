package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// git runs the git CLI (tests only: ssm itself never execs git).
var git = gittest.Git

// bareRepo creates a bare repository whose main branch holds one foreign
// commit: a README and an apps/ folder that ssm must never touch.
func bareRepo(t *testing.T) string {
	t.Helper()
	bare := gittest.NewBare(t)
	pushForeign(t, bare, map[string]string{"README.md": "# cluster config\n", "apps/app.yaml": "kind: ConfigMap\n"}, "seed")
	return bare
}

// pushForeign commits files to main as a person would.
func pushForeign(t *testing.T, bare string, files map[string]string, msg string) {
	t.Helper()
	gittest.HumanPush(t, bare, func(work string) { gittest.WriteFiles(t, work, files) }, msg)
}

// commit is one commit of a branch, newest first in commits.
type commit struct{ hash, author, subject string }

func commits(t *testing.T, bare, branch string) []commit {
	t.Helper()
	var out []commit
	for l := range strings.SplitSeq(git(t, bare, "log", "--format=%H|%an|%s", branch), "\n") {
		f := strings.SplitN(l, "|", 3)
		out = append(out, commit{f[0], f[1], f[2]})
	}
	return out
}

// checkout clones branch of bare into a new directory, as a GitOps agent does.
func checkout(t *testing.T, bare string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkout")
	git(t, filepath.Dir(dir), "clone", "-q", "--depth", "1", "-b", "main", bare, dir)
	return dir
}

// proc is a running `ssm run`.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	addr   string
	log    string
	done   chan struct{}
	exited time.Duration
}

func startRun(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, addr: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(t.TempDir(), name+".log")}
	p.cmd, p.done = startLogged(t, p.log, ssmBin, append([]string{"run", "--listen-address", p.addr, "--admin-address=", "--log-level", "debug"}, args...)...)
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logs())
		}
	})
	return p
}

// startLogged starts bin with its output in the file at log, killed if
// the test process dies; done is closed when it has exited.
func startLogged(t *testing.T, log, bin string, args ...string) (cmd *exec.Cmd, done chan struct{}) {
	t.Helper()
	logf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		if bin == ssmBin {
			recordLog(t, "ssm "+strings.Join(args, " "), log)
		}
		close(done)
	}()
	return cmd, done
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// terminate sends SIGTERM and waits for the exit, recording how long it took.
func (p *proc) terminate() {
	p.t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		p.exited = time.Since(start)
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s did not exit within 15s of SIGTERM", p.name)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("%s exited %d after SIGTERM", p.name, code)
	}
}

// get fetches a path of the process's health and metrics server.
func (p *proc) get(path string) (int, string) {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of one sample of /metrics, e.g. `ssm_commits_total`;
// -1 when it is missing.
func (p *proc) metric(sample string) float64 {
	_, body := p.get("/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// eventually polls cond every 25ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}
