package gittest

import (
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHumanPushReadBack(t *testing.T) {
	t.Parallel()
	bare := NewBare(t)
	files := map[string]string{"a.yaml": "a\n", "sub/b.yaml": "b\n"}
	HumanPush(t, bare, func(w string) { WriteFiles(t, w, files) }, "first")
	head := HumanPush(t, bare, func(string) {}, "second")
	if got := Git(t, bare, "rev-parse", "main"); got != head {
		t.Errorf("main = %s, want the pushed commit %s", got, head)
	}
	if diff := cmp.Diff(files, BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	if n := CommitCount(t, bare, "main"); n != 2 {
		t.Errorf("commits = %d, want 2", n)
	}
	Fsck(t, bare)
}

func TestHTTPServerAuth(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	NewServedBare(t, root, "repo.git")
	srv := StartHTTP(t, root, "u", "old")
	srv.SetPassword("new")
	for _, tt := range []struct {
		name, password string
		want           int
	}{
		{name: "current password", password: "new", want: http.StatusOK},
		{name: "old password", password: "old", want: http.StatusUnauthorized},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/repo.git/info/refs?service=git-upload-pack", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("u", tt.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status = %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

func TestSSHServerKeys(t *testing.T) {
	t.Parallel()
	keyFile, pub := NewClientKey(t)
	otherFile, _ := NewClientKey(t)
	srv := StartSSH(t, t.TempDir(), pub)
	if host, _, _ := net.SplitHostPort(srv.Addr); host != "127.0.0.1" {
		t.Errorf("Addr = %s, want loopback", srv.Addr)
	}
	hostKeys, err := knownhosts.New(KnownHostsFile(t, srv.Addr, srv.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, keyFile string
		wantErr       bool
	}{
		{name: "client key", keyFile: keyFile},
		{name: "other key", keyFile: otherFile, wantErr: true},
	} {
		config := &ssh.ClientConfig{User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer(t, tt.keyFile))}, HostKeyCallback: hostKeys}
		c, err := ssh.Dial("tcp", srv.Addr, config)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: dial error = %v, want error %t", tt.name, err, tt.wantErr)
		}
		if err == nil {
			c.Close()
		}
	}
}

func signer(t *testing.T, keyFile string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
