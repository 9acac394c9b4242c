package gittest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// gitCmd runs the git CLI in dir with the package's environment and extra
// variables, and returns its combined output and error: for commands that
// are expected to fail.
func gitCmd(dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// commitIn makes a work tree with one commit and returns it.
func commitIn(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	Git(t, work, "init", "-q", "-b", "main")
	WriteFiles(t, work, map[string]string{"a.yaml": "a\n"})
	Git(t, work, "add", "-A")
	Git(t, work, "commit", "-q", "-m", "first")
	return work
}

// TestHTTPServerWithGit: git itself pushes to and fetches from the HTTP
// server with the credentials, and with them alone; a push hook sees
// pushes alone and can drop them.
func TestHTTPServerWithGit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	served := NewServedBare(t, root, "repo.git")
	plain := filepath.Join(root, "plain.git")
	Git(t, "", "init", "-q", "--bare", "-b", "main", plain)
	srv := StartHTTP(t, root, "u", "p")
	if host, _, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://")); host != "127.0.0.1" {
		t.Errorf("URL = %s, want loopback", srv.URL)
	}
	work := commitIn(t)
	withAuth := strings.Replace(srv.URL, "http://", "http://u:p@", 1)
	head := Git(t, work, "rev-parse", "HEAD")

	var pushes, requests atomic.Int32
	srv.SetBeforePush(func(r *http.Request) bool {
		pushes.Add(1)
		return false
	})
	if out, err := gitCmd(work, nil, "push", "-q", withAuth+"/repo.git", "HEAD:main"); err == nil || !strings.Contains(out, "503") {
		t.Errorf("push the hook drops: %v\n%s", err, out)
	}
	if pushes.Load() != 1 || Git(t, served, "for-each-ref") != "" {
		t.Errorf("the hook saw %d pushes, refs %q; want 1 and none", pushes.Load(), Git(t, served, "for-each-ref"))
	}
	srv.SetBeforePush(func(*http.Request) bool { requests.Add(1); return true })
	Git(t, work, "push", "-q", withAuth+"/repo.git", "HEAD:main")
	if got := Git(t, served, "rev-parse", "main"); got != head || requests.Load() != 1 {
		t.Errorf("main = %s after a push the hook lets through (%d seen), want %s", got, requests.Load(), head)
	}
	srv.SetBeforePush(nil)
	if got := Git(t, work, "ls-remote", withAuth+"/repo.git", "refs/heads/main"); !strings.HasPrefix(got, head) || requests.Load() != 1 {
		t.Errorf("ls-remote = %q, hook calls %d; want main and no call for a fetch", got, requests.Load())
	}
	// http-backend takes pushes from the authenticated user to any
	// repository below the root.
	Git(t, work, "push", "-q", withAuth+"/plain.git", "HEAD:main")
	if got := Git(t, plain, "rev-parse", "main"); got != head {
		t.Errorf("main of a plain bare repository = %s, want %s", got, head)
	}
	wrong := strings.Replace(srv.URL, "http://", "http://u:wrong@", 1)
	if out, err := gitCmd(work, nil, "ls-remote", wrong+"/repo.git"); err == nil || !strings.Contains(out, "Authentication failed for") {
		t.Errorf("ls-remote with a wrong password: %v\n%s", err, out)
	}
}

// TestHTTPSServer: the server's certificate verifies against the CA file
// StartHTTPS returns, for Go's client and for git, and against nothing
// else.
func TestHTTPSServer(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	served := NewServedBare(t, root, "repo.git")
	srv, caFile := StartHTTPS(t, root, "u", "p")
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %s, want https on loopback", srv.URL)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	for _, tt := range []struct {
		name string
		pool *x509.CertPool
		want string // "" for success
	}{
		{name: "the CA", pool: pool},
		{name: "system roots", want: "certificate signed by unknown authority"},
	} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tt.pool}}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/repo.git/info/refs?service=git-upload-pack", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("u", "p")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		switch {
		case tt.want == "" && (err != nil || resp.StatusCode != http.StatusOK):
			t.Errorf("%s: %v, %v; want 200", tt.name, resp, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	work := commitIn(t)
	url := strings.Replace(srv.URL, "https://", "https://u:p@", 1) + "/repo.git"
	if out, err := gitCmd(work, []string{"GIT_SSL_CAINFO=" + caFile}, "push", "-q", url, "HEAD:main"); err != nil {
		t.Fatalf("git push over https with the CA: %v\n%s", err, out)
	}
	if got, want := Git(t, served, "rev-parse", "main"), Git(t, work, "rev-parse", "HEAD"); got != want {
		t.Errorf("main = %s after git pushed over https, want %s", got, want)
	}
	if out, err := gitCmd(work, nil, "ls-remote", url); err == nil || !strings.Contains(out, "certificate") {
		t.Errorf("git without the CA: %v\n%s", err, out)
	}
}

// sshGit returns the environment that makes git reach srv with OpenSSH,
// the client key and a known_hosts file of its host key, verified.
func sshGit(t *testing.T, srv *SSHServer, key string) []string {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("skipped: no ssh client (apt-get install openssh-client)")
	}
	_, port, _ := net.SplitHostPort(srv.Addr)
	kh := KnownHostsFile(t, srv.Addr, srv.HostKey)
	return []string{fmt.Sprintf("GIT_SSH_COMMAND=ssh -F /dev/null -i %s -p %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", key, port, kh)}
}

// TestSSHServerWithGit: git with OpenSSH pushes to and fetches from the
// SSH server below its root, under the host key it advertises.
func TestSSHServerWithGit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	served := NewServedBare(t, root, "repo.git")
	key, pub := NewClientKey(t)
	srv := StartSSH(t, root, pub)
	sshEnv := sshGit(t, srv, key)
	work := commitIn(t)
	url := "ssh://git@127.0.0.1" + served // the port is in GIT_SSH_COMMAND
	if out, err := gitCmd(work, sshEnv, "push", "-q", url, "HEAD:main"); err != nil {
		t.Fatalf("git push over ssh: %v\n%s", err, out)
	}
	head := Git(t, work, "rev-parse", "HEAD")
	if got := Git(t, served, "rev-parse", "main"); got != head {
		t.Errorf("main = %s, want %s", got, head)
	}
	if out, err := gitCmd(work, sshEnv, "ls-remote", url, "refs/heads/main"); err != nil || !strings.HasPrefix(out, head) {
		t.Errorf("git ls-remote over ssh = %q, %v", out, err)
	}
	outside := NewBare(t) // not below the server's root
	if out, err := gitCmd(work, sshEnv, "ls-remote", "ssh://git@127.0.0.1"+outside); err == nil {
		t.Errorf("git ls-remote of a repository outside the root worked:\n%s", out)
	}
	other := KnownHostsFile(t, srv.Addr, pub) // the wrong host key
	_, port, _ := net.SplitHostPort(srv.Addr)
	wrongHost := []string{fmt.Sprintf("GIT_SSH_COMMAND=ssh -F /dev/null -i %s -p %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", key, port, other)}
	if out, err := gitCmd(work, wrongHost, "ls-remote", url); err == nil || !strings.Contains(out, "HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("git ls-remote with another host key known: %v\n%s", err, out)
	}
}

// TestSSHServerRefuses: the server runs git-upload-pack and
// git-receive-pack below its root and nothing else: no other command, no
// shell, no channel but sessions; a command's exit status is git's.
func TestSSHServerRefuses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	served := NewServedBare(t, root, "repo.git")
	if err := os.Mkdir(filepath.Join(root, "not-a-repo"), 0o755); err != nil {
		t.Fatal(err)
	}
	key, pub := NewClientKey(t)
	srv := StartSSH(t, root, pub)
	hostKeys, err := knownhosts.New(KnownHostsFile(t, srv.Addr, srv.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer(t, key))}, HostKeyCallback: hostKeys})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if _, _, err := c.OpenChannel("direct-tcpip", nil); err == nil || !strings.Contains(err.Error(), "sessions only") {
		t.Errorf("direct-tcpip channel: error = %v, want it rejected", err)
	}
	for _, cmd := range []string{"id", "git-upload-pack '" + filepath.Dir(root) + "'", "git-receive-pack '" + root + "/../x.git'", "git-upload-archive '" + served + "'"} {
		if err := run(t, c, cmd, nil); err == nil || !strings.Contains(err.Error(), "ssh: command "+cmd+" failed") {
			t.Errorf("exec %s: error = %v, want it refused", cmd, err)
		}
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err == nil {
		t.Error("a shell was granted")
	}
	sess.Close()
	ch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	if ok, err := ch.SendRequest("exec", true, []byte{0, 0, 0, 9, 'x'}); ok || err != nil {
		t.Errorf("a malformed exec request: granted %v, error %v; want it refused", ok, err)
	}
	ch.Close()

	var out bytes.Buffer
	// A client that wants nothing says so with a flush, as git does.
	if err := runWith(t, c, "git-upload-pack '"+served+"'", "0000", &out); err != nil || out.String() != "0000" {
		t.Errorf("git-upload-pack of an empty repository = %q, %v; want a flush and exit status 0", out.String(), err)
	}
	err = run(t, c, "git-upload-pack '"+filepath.Join(root, "not-a-repo")+"'", nil)
	if exit, ok := errors.AsType[*ssh.ExitError](err); !ok || exit.ExitStatus() != 1 {
		t.Errorf("git-upload-pack of a directory that is no repository: error = %v, want exit status 1", err)
	}
}

// run execs cmd in a new session of c, with no input, and returns how it
// ended.
func run(t *testing.T, c *ssh.Client, cmd string, stdout *bytes.Buffer) error {
	return runWith(t, c, cmd, "", stdout)
}

// runWith is run with input on the command's standard input.
func runWith(t *testing.T, c *ssh.Client, cmd, input string, stdout *bytes.Buffer) error {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if stdout != nil {
		sess.Stdout = stdout
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start(cmd); err != nil {
		return err
	}
	_, _ = stdin.Write([]byte(input))
	stdin.Close()
	return sess.Wait()
}

// TestSSHServerStopsWithTheTest: once the test that started it ends, the
// server listens no more and its connections are closed.
func TestSSHServerStopsWithTheTest(t *testing.T) {
	t.Parallel()
	key, pub := NewClientKey(t)
	var addr string
	var c *ssh.Client
	t.Run("server", func(t *testing.T) {
		srv := StartSSH(t, t.TempDir(), pub)
		addr = srv.Addr
		var err error
		c, err = ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer(t, key))}, HostKeyCallback: ssh.FixedHostKey(srv.HostKey)})
		if err != nil {
			t.Fatal(err)
		}
	})
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() { _ = c.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("the server kept its connection open after its test ended")
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after its test ended", addr)
	}
}

// fatalTB records a helper's fatal failure and ends its goroutine, as
// testing's Fatal does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs fn with a fatalTB on a goroutine of its own and returns
// what it failed with, "" if it did not.
func fatalOf(t *testing.T, fn func(testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

// TestHelpersFailTheTest: a git command or a write that fails fails the
// test that asked for it, with what went wrong, rather than handing back
// nothing.
func TestHelpersFailTheTest(t *testing.T) {
	t.Parallel()
	bare := NewBare(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		fn   func(testing.TB)
		want string
	}{
		{name: "git fails", fn: func(tb testing.TB) { Git(tb, bare, "rev-parse", "--verify", "nothing") }, want: "git rev-parse --verify nothing: exit status 128\nfatal: Needed a single revision"},
		{name: "missing git binary", fn: func(tb testing.TB) { Run(tb, "/nonexistent/git", bare, nil, "status") }, want: "git status: fork/exec /nonexistent/git: no such file or directory"},
		{name: "branch files of no branch", fn: func(tb testing.TB) { BranchFiles(tb, bare, "main") }, want: "git ls-tree -r -z main: exit status 128"},
		{name: "commit count of no branch", fn: func(tb testing.TB) { CommitCount(tb, bare, "main") }, want: "git rev-list --count main: exit status 128"},
		{name: "write below a file", fn: func(tb testing.TB) { WriteFiles(tb, file, map[string]string{"a": "x"}) }, want: "not a directory"},
		{name: "write over a directory", fn: func(tb testing.TB) { WriteFiles(tb, filepath.Dir(file), map[string]string{".": "x"}) }, want: "is a directory"},
	} {
		if got := fatalOf(t, tt.fn); !strings.Contains(got, tt.want) {
			t.Errorf("%s: failed with %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := fatalOf(t, func(tb testing.TB) { Fsck(tb, bare) }); got != "" {
		t.Errorf("Fsck of a sound repository failed: %s", got)
	}
}
