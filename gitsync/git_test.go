package gitsync

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

func TestSyncFirstCommitIntoEmptyRepo(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "clusters/prod", func(o *RepoOptions) {
		o.AuthorName, o.AuthorEmail = "Renderer", "renderer@example.com"
	})
	files := fileset.Files{
		"kustomization.yaml": []byte("resources: [a.yaml]\n"),
		"a.yaml":             []byte("kind: Service\n"),
		"sub/deeper/b.yaml":  []byte("kind: Endpoints\n"),
	}
	res, err := r.Sync(t.Context(), files, "Mirror 3 objects")
	if err != nil {
		t.Fatal(err)
	}
	want := fileset.Result{Changed: true, Added: []string{"a.yaml", "kustomization.yaml", "sub/deeper/b.yaml"},
		Commit: gittest.Git(t, bare, "rev-parse", "main")}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(under("clusters/prod/", files), gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	if n := gittest.CommitCount(t, bare, "main"); n != 1 {
		t.Errorf("commits = %d, want 1 root commit", n)
	}
	wantMsg := "Mirror 3 objects\n\n3 added, 0 updated, 0 removed\n\nadded: a.yaml\nadded: kustomization.yaml\nadded: sub/deeper/b.yaml"
	if got := gittest.Git(t, bare, "log", "-1", "--format=%B"); got != wantMsg {
		t.Errorf("commit message:\n%s\nwant:\n%s", got, wantMsg)
	}
	if got := gittest.Git(t, bare, "log", "-1", "--format=%an <%ae> %cn <%ce>"); got != "Renderer <renderer@example.com> Renderer <renderer@example.com>" {
		t.Errorf("author and committer = %s", got)
	}
	gittest.Fsck(t, bare)
}

func TestSyncKeepsContentOutsidePath(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	outside := map[string]string{
		"README.md":                "# infra\n",
		"clusters/staging/a.yaml":  "staging\n",
		"clusters/prod-other.yaml": "sorts next to prod\n",
		"clusters/prod.d/x.yaml":   "sorts after prod/\n",
		"apps/x/deploy.yaml":       "kind: Deployment\n",
	}
	gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, outside) }, "human")
	before := gittest.Git(t, bare, "ls-tree", "-r", "main")
	r := open(t, bare, "clusters/prod")
	files := fileset.Files{"a.yaml": []byte("a\n"), "b/c.yaml": []byte("c\n")}
	mustSync(t, r, files)
	if diff := cmp.Diff(merge(outside, under("clusters/prod/", files)), gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	// The objects outside the path are the very same.
	after := gittest.Git(t, bare, "ls-tree", "-r", "main")
	for _, line := range strings.Split(before, "\n") {
		if !strings.Contains(after, line) {
			t.Errorf("entry %q changed", line)
		}
	}
	if got := gittest.Git(t, bare, "rev-list", "--parents", "-1", "main"); len(strings.Fields(got)) != 2 {
		t.Errorf("commit and parents = %q, want one parent", got)
	}
	gittest.Fsck(t, bare)
}

func TestSyncWithoutChangeMakesNoCommit(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	files := fileset.Files{"a.yaml": []byte("a\n"), "d/b.yaml": []byte("b\n")}
	r := open(t, bare, "")
	mustSync(t, r, files)
	head := gittest.Git(t, bare, "rev-parse", "main")
	if res := mustSync(t, r, files); res.Changed || res.Commit != "" {
		t.Errorf("second Sync = %+v, want no change", res)
	}
	// A fresh replica sees the same.
	if res := mustSync(t, open(t, bare, "."), files); res.Changed {
		t.Errorf("Sync of a new Repo = %+v, want no change", res)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
		t.Errorf("head moved from %s to %s", head, got)
	}
	// An empty file set on a branch that does not exist commits nothing either.
	empty := gittest.NewBare(t)
	if res := mustSync(t, open(t, empty, "x"), fileset.Files{}); res.Changed {
		t.Errorf("Sync of no files = %+v, want no change", res)
	}
	if refs := gittest.Git(t, empty, "for-each-ref"); refs != "" {
		t.Errorf("refs = %q, want none", refs)
	}
}

func TestSyncUpdatesAndPrunes(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"other/keep.yaml": "keep\n"}) }, "human")
	r := open(t, bare, "out")
	mustSync(t, r, fileset.Files{
		"a.yaml":       []byte("a1\n"),
		"b.yaml":       []byte("b\n"),
		"old/x.yaml":   []byte("x\n"),
		"old/y/z.yaml": []byte("z\n"),
		"n/keep.yaml":  []byte("k\n"),
		"n/gone.yaml":  []byte("g\n"),
		"file":         []byte("becomes a directory\n"),
		"dir/f.yaml":   []byte("becomes a file\n"),
	})
	files := fileset.Files{
		"a.yaml":        []byte("a2\n"),
		"b.yaml":        []byte("b\n"),
		"n/keep.yaml":   []byte("k\n"),
		"new/deep.yaml": []byte("new\n"),
		"file/f.yaml":   []byte("now below file/\n"),
		"dir":           []byte("now a file\n"),
	}
	res := mustSync(t, r, files)
	want := fileset.Result{
		Changed: true,
		Added:   []string{"dir", "file/f.yaml", "new/deep.yaml"},
		Updated: []string{"a.yaml"},
		Removed: []string{"dir/f.yaml", "file", "n/gone.yaml", "old/x.yaml", "old/y/z.yaml"},
		Commit:  gittest.Git(t, bare, "rev-parse", "main"),
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	wantFiles := merge(map[string]string{"other/keep.yaml": "keep\n"}, under("out/", files))
	if diff := cmp.Diff(wantFiles, gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	if got := gittest.Git(t, bare, "ls-tree", "-d", "--name-only", "main", "out/"); strings.Contains(got, "old") {
		t.Errorf("emptied directory old/ is still in the tree: %q", got)
	}
	// Removing everything removes the path, and only it.
	res = mustSync(t, r, fileset.Files{})
	if len(res.Removed) != len(files) {
		t.Errorf("Removed = %v, want all %d files", res.Removed, len(files))
	}
	if diff := cmp.Diff(map[string]string{"other/keep.yaml": "keep\n"}, gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files after removing all (-want +got):\n%s", diff)
	}
	gittest.Fsck(t, bare)
}

func TestSyncRefusesForeignPath(t *testing.T) {
	t.Parallel()
	own := fileset.Ownership{File: ".ssm", Prefix: []byte("# written by ssm")}
	withOwn := func(o *RepoOptions) { o.Ownership = own }
	tests := []struct {
		name    string
		stored  map[string]string // under the owned path
		wantErr bool
	}{
		{name: "foreign files", stored: map[string]string{"app.yaml": "x\n"}, wantErr: true},
		{name: "marker with another prefix", stored: map[string]string{"app.yaml": "x\n", ".ssm": "someone else\n"}, wantErr: true},
		{name: "marker", stored: map[string]string{"app.yaml": "x\n", ".ssm": "# written by ssm\n"}},
		{name: "empty path", stored: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bare := gittest.NewBare(t)
			head := gittest.HumanPush(t, bare, func(w string) {
				gittest.WriteFiles(t, w, under("owned/", toFiles(tt.stored)))
				gittest.WriteFiles(t, w, map[string]string{"README": "r\n"})
			}, "human")
			r := open(t, bare, "owned", withOwn)
			_, err := r.Sync(t.Context(), fileset.Files{".ssm": []byte("# written by ssm\n"), "a.yaml": []byte("a\n")}, "sync")
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "refusing to write owned") || !strings.Contains(err.Error(), ".ssm") {
					t.Fatalf("Sync error = %v, want a refusal naming the path and .ssm", err)
				}
				if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
					t.Errorf("head moved to %s after a refusal", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
		})
	}
}

func toFiles(m map[string]string) fileset.Files {
	f := fileset.Files{}
	for k, v := range m {
		f[k] = []byte(v)
	}
	return f
}

func TestDiff(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	files := fileset.Files{"a.yaml": []byte("a\n"), "b.yaml": []byte("b\n")}
	if got, err := r.Diff(t.Context(), files); err != nil || len(got) != 2 {
		t.Fatalf("Diff on an empty repo = %v, %v; want 2 added", got, err)
	}
	mustSync(t, r, files)
	// Someone edits the path behind our back; Diff fetches and sees it.
	gittest.HumanPush(t, bare, func(w string) {
		gittest.WriteFiles(t, w, map[string]string{"p/a.yaml": "edited\n", "p/c.yaml": "c\n"})
	}, "human edit")
	got, err := r.Diff(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	want := []fileset.Change{
		{Path: "a.yaml", Kind: fileset.Updated, Old: []byte("edited\n"), New: []byte("a\n")},
		{Path: "c.yaml", Kind: fileset.Removed, Old: []byte("c\n")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
}

func TestSyncFileMovedIntoPath(t *testing.T) {
	t.Parallel()
	// The remote sends only objects we lack, judged by the commit we hold;
	// a blob moved into the owned path from elsewhere is one it leaves out.
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"elsewhere/x.yaml": "moved\n"}) }, "human")
			r := open(t, url, "p", auth)
			mustSync(t, r, fileset.Files{"a.yaml": []byte("a\n")})
			gittest.HumanPush(t, bare, func(w string) {
				gittest.Git(t, w, "mv", "elsewhere/x.yaml", "p/x.yaml")
			}, "move into p")
			got, err := r.Diff(t.Context(), fileset.Files{"a.yaml": []byte("a\n")})
			if err != nil {
				t.Fatal(err)
			}
			want := []fileset.Change{{Path: "x.yaml", Kind: fileset.Removed, Old: []byte("moved\n")}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncConflictingPaths(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a/b": "a file where the path goes\n"}) }, "human")
	if _, err := Open(t.Context(), RepoOptions{URL: bare, Path: "a/b/c"}); err == nil || !strings.Contains(err.Error(), "a/b is a file") {
		t.Errorf("Open with a file on the path: error = %v, want one naming a/b", err)
	}
	r := open(t, bare, "x")
	_, err := r.Sync(t.Context(), fileset.Files{"d": []byte("file\n"), "d/e.yaml": []byte("below\n")}, "s")
	if err == nil || !strings.Contains(err.Error(), "d is both a file and a directory") {
		t.Errorf("Sync of d and d/e.yaml: error = %v, want a conflict naming d", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	missing := filepath.Join(t.TempDir(), "missing.git")
	nonBare := t.TempDir()
	gittest.Git(t, nonBare, "init", "-q")
	tests := []struct {
		name string
		opts RepoOptions
		want string // in the error
	}{
		{name: "no url", opts: RepoOptions{}, want: "git url is required"},
		{name: "bad branch", opts: RepoOptions{URL: bare, Branch: "a..b"}, want: `invalid git branch "a..b"`},
		{name: "escaping path", opts: RepoOptions{URL: bare, Path: "../x"}, want: `invalid git path "../x"`},
		{name: "absolute path", opts: RepoOptions{URL: bare, Path: "/x"}, want: `invalid git path "/x"`},
		{name: "negative timeout", opts: RepoOptions{URL: bare, Timeout: -1}, want: "invalid git timeout"},
		{name: "missing repo", opts: RepoOptions{URL: missing}, want: "fetch main from " + missing + ": repository not found"},
		{name: "missing file url", opts: RepoOptions{URL: "file://" + missing}, want: "fetch main from file://" + missing},
		{name: "non-bare", opts: RepoOptions{URL: nonBare}, want: "must be bare"},
		{name: "local with password", opts: RepoOptions{URL: bare, PasswordPath: "/x"}, want: "takes no ssh key"},
		{name: "unsupported scheme", opts: RepoOptions{URL: "ftp://example.com/r.git"}, want: `git url ftp://example.com/r.git: unsupported protocol "ftp"`},
		{name: "ssh without key", opts: RepoOptions{URL: "git@127.0.0.1:r.git"}, want: "git url git@127.0.0.1:r.git: an ssh url needs an ssh key file"},
		{name: "ssh without known_hosts", opts: RepoOptions{URL: "ssh://git@127.0.0.1/r.git", SSHKeyPath: "/k"}, want: "needs a known_hosts file"},
		{name: "ssh with password", opts: RepoOptions{URL: "ssh://127.0.0.1/r.git", PasswordPath: "/p"}, want: "password file is for http(s)"},
		{name: "http with key", opts: RepoOptions{URL: "https://127.0.0.1/r.git", SSHKeyPath: "/k"}, want: "are for ssh urls"},
		{name: "http missing password file", opts: RepoOptions{URL: "https://127.0.0.1/r.git", PasswordPath: missing}, want: "read password file"},
		{name: "password in url", opts: RepoOptions{URL: "https://u:secret@127.0.0.1:1/r.git"}, want: "git url https://xxxxx@127.0.0.1:1/r.git: credentials in the url"},
		{name: "token in url", opts: RepoOptions{URL: "https://secret@127.0.0.1:1/r.git"}, want: "--git-password-path"},
		{name: "password in ssh url", opts: RepoOptions{URL: "ssh://git:secret@127.0.0.1:1/r.git", SSHKeyPath: "/k", InsecureIgnoreHostKey: true}, want: "git url ssh://git:xxxxx@127.0.0.1:1/r.git: an ssh url must not hold a password"},
		{name: "password in scp-like url", opts: RepoOptions{URL: "git:secret@127.0.0.1:r.git", SSHKeyPath: "/k", InsecureIgnoreHostKey: true}, want: "git url git:xxxxx@127.0.0.1:r.git: an ssh url must not hold a password"},
		{name: "unparsable url with a token", opts: RepoOptions{URL: "https://secret@127.0.0.1:x/r.git"}, want: "parse git url https://xxxxx@127.0.0.1:x/r.git: "},
		{name: "token in the query", opts: RepoOptions{URL: "http://127.0.0.1:1/r.git?private_token=secret"}, want: "fetch main from http://127.0.0.1:1/r.git?private_token=xxxxx: "},
		{name: "reserved path", opts: RepoOptions{URL: bare, Path: "a/.GIT"}, want: `invalid git path "a/.GIT"`},
		{name: "reserved ownership file", opts: RepoOptions{URL: bare, Ownership: fileset.Ownership{File: "git~1/x"}}, want: `invalid ownership file "git~1/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Open(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "failed to") {
				t.Errorf("error %q leaks a secret or says 'failed to'", err)
			}
		})
	}
}

func TestValidateTouchesNoNetwork(t *testing.T) {
	t.Parallel()
	keyFile, _ := gittest.NewClientKey(t)
	hosts := filepath.Join(t.TempDir(), "known_hosts")
	writePassword(t, hosts, "# none")
	// Port 1 on loopback: nothing listens there, and Validate must not try.
	ok := RepoOptions{URL: "ssh://git@127.0.0.1:1/r.git", Path: "p", SSHKeyPath: keyFile, KnownHostsPath: hosts}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	bad := ok
	bad.SSHKeyPath = filepath.Join(t.TempDir(), "missing")
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "read ssh key") {
		t.Errorf("Validate with a missing key: error = %v, want it to name the key", err)
	}
	bad = ok
	bad.KnownHostsPath = filepath.Join(t.TempDir(), "missing")
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Errorf("Validate with missing known_hosts: error = %v, want it to name known_hosts", err)
	}
}

func TestSyncRejectsPathsGitRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want string // in the error
	}{
		{path: ".", want: ". or .. segments"},
		{path: "a/.", want: ". or .. segments"},
		{path: "a\x00b", want: "NUL"},
		{path: ".GIT/config", want: ".git"},
		{path: "git~1/x", want: ".git"},
		{path: "a/.git. /hooks/x", want: ".git"},
		{path: "\u200c.git/config", want: ".git"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			bare := gittest.NewBare(t)
			r := open(t, bare, "p")
			_, err := r.Sync(t.Context(), fileset.Files{tt.path: []byte("x\n"), "a.yaml": []byte("a\n")}, "s")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), strconv.Quote(tt.path)) {
				t.Fatalf("Sync error = %v, want %q naming the path", err, tt.want)
			}
			if refs := gittest.Git(t, bare, "for-each-ref"); refs != "" {
				t.Errorf("refs = %q after a rejected Sync, want none", refs)
			}
			if _, err := r.Diff(t.Context(), fileset.Files{tt.path: nil}); err == nil {
				t.Errorf("Diff accepted %q", tt.path)
			}
		})
	}
	// What was pushed can be cloned and checked out.
	bare := gittest.NewBare(t)
	mustSync(t, open(t, bare, "p"), fileset.Files{".gitignore": []byte("x\n"), ".github/ci.yaml": []byte("y\n"), "a.git/b": []byte("z\n")})
	gittest.Git(t, "", "clone", "-q", bare, t.TempDir())
	gittest.Fsck(t, bare)
}

func TestSyncLocalNeedsNoGitBinary(t *testing.T) {
	// Not parallel: it empties PATH for the whole process.
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	bare := gittest.NewBare(t)
	t.Setenv("PATH", "")
	if _, err := exec.LookPath("git-receive-pack"); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("git-receive-pack is still found without PATH: %v", err)
	}
	r := open(t, "file://"+bare, "p")
	mustSync(t, r, fileset.Files{"a.yaml": []byte("a\n")})
	res := mustSync(t, open(t, bare, "p"), fileset.Files{"a.yaml": []byte("a2\n")})
	if !res.Changed {
		t.Fatalf("second Sync = %+v, want a change", res)
	}
	got := string(gittest.Run(t, gitBin, bare, nil, "show", "main:p/a.yaml"))
	if got != "a2\n" {
		t.Errorf("p/a.yaml = %q, want a2", got)
	}
	if got := strings.TrimSpace(string(gittest.Run(t, gitBin, bare, nil, "rev-list", "--count", "main"))); got != "2" {
		t.Errorf("commits = %s, want 2", got)
	}
}

// TestRepoOptionsString: a git sink is described for logs without the
// secrets its URL may carry.
func TestRepoOptionsString(t *testing.T) {
	o := RepoOptions{URL: "https://ssm:s3cret@git.example/fleet.git?token=t0k", Branch: "main", Path: "clusters/prod"}
	if got, want := o.String(), "https://xxxxx@git.example/fleet.git?token=xxxxx (branch main, path clusters/prod)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	o.PushBranch = "ssm/proposal"
	if got := o.String(); got != "https://xxxxx@git.example/fleet.git?token=xxxxx (branch ssm/proposal from main, path clusters/prod)" {
		t.Errorf("with a push branch: %q", got)
	}
}
