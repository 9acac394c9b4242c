package gitsync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/remote"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// remoteKinds lists the transports the replica tests run over: a local
// path, read and written directly, and git's own servers over HTTP and SSH.
var remoteKinds = []string{"local", "http", "ssh"}

// newRemoteRepo returns a new empty repository reachable over kind: its
// URL, its directory, and the options to reach it.
func newRemoteRepo(t *testing.T, kind string) (url, dir string, auth func(*RepoOptions)) {
	t.Helper()
	root := t.TempDir()
	switch kind {
	case "local":
		dir = gittest.NewBare(t)
		return dir, dir, func(*RepoOptions) {}
	case "http":
		dir = gittest.NewServedBare(t, root, "repo.git")
		srv := gittest.StartHTTP(t, root, "u", "p")
		pw := filepath.Join(t.TempDir(), "pw")
		writePassword(t, pw, "p")
		return srv.URL + "/repo.git", dir, func(o *RepoOptions) { o.Username, o.PasswordPath = "u", pw }
	case "ssh":
		dir = gittest.NewServedBare(t, root, "repo.git")
		key, pub := gittest.NewClientKey(t)
		srv := gittest.StartSSH(t, root, pub)
		hosts := gittest.KnownHostsFile(t, srv.Addr, srv.HostKey)
		return "ssh://git@" + srv.Addr + dir, dir, func(o *RepoOptions) { o.SSHKeyPath, o.KnownHostsPath = key, hosts }
	}
	t.Fatalf("unknown remote kind %q", kind)
	return "", "", nil
}

func TestSyncKeepsForeignCommit(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			r := open(t, url, "mine", auth)
			mustSync(t, r, fileset.Files{"a.yaml": []byte("1\n")})
			foreign := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"theirs.yaml": "t\n"}) }, "theirs")
			res := mustSync(t, r, fileset.Files{"a.yaml": []byte("2\n")})
			if got := gittest.Git(t, bare, "rev-parse", "main^"); got != foreign {
				t.Errorf("parent of our commit = %s, want the foreign commit %s", got, foreign)
			}
			if got := gittest.Git(t, bare, "rev-parse", "main"); got != res.Commit {
				t.Errorf("head = %s, want our commit %s", got, res.Commit)
			}
			want := map[string]string{"mine/a.yaml": "2\n", "theirs.yaml": "t\n"}
			if diff := cmp.Diff(want, gittest.BranchFiles(t, bare, "main")); diff != "" {
				t.Errorf("branch files (-want +got):\n%s", diff)
			}
			assertLinear(t, bare, 3)
			gittest.Fsck(t, bare)
		})
	}
}

// assertLinear checks that main has n commits, none of them a merge.
func assertLinear(t *testing.T, dir string, n int) {
	t.Helper()
	if got := gittest.CommitCount(t, dir, "main"); got != n {
		t.Errorf("commits = %d, want %d", got, n)
	}
	if merges := gittest.Git(t, dir, "rev-list", "--merges", "main"); merges != "" {
		t.Errorf("merge commits: %s", merges)
	}
}

func TestReplicasConvergeOnSameFiles(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"README": "r\n"}) }, "seed")
			a, b := open(t, url, "p", auth), open(t, url, "p", auth)
			const rounds = 5
			for i := range rounds {
				files := fileset.Files{"a.yaml": fmt.Appendf(nil, "round %d\n", i), fmt.Sprintf("r%d.yaml", i): []byte("x\n")}
				results := syncAll(t, files, a, b)
				if changed := results[0].Changed != results[1].Changed; !changed {
					t.Errorf("round %d: results %+v and %+v, want exactly one change", i, results[0], results[1])
				}
				if diff := cmp.Diff(merge(map[string]string{"README": "r\n"}, under("p/", files)), gittest.BranchFiles(t, bare, "main")); diff != "" {
					t.Errorf("round %d: branch files (-want +got):\n%s", i, diff)
				}
			}
			assertLinear(t, bare, 1+rounds)
		})
	}
}

// syncAll runs Sync of files on every repo at once and returns the results.
func syncAll(t *testing.T, files fileset.Files, repos ...*Repo) []fileset.Result {
	t.Helper()
	results := make([]fileset.Result, len(repos))
	errs := make([]error, len(repos))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range repos {
		wg.Go(func() {
			<-start
			results[i], errs[i] = r.Sync(t.Context(), files, fmt.Sprintf("replica %d", i))
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return results
}

func TestReplicasWithDifferentFilesLoseNoCommit(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			// Two replicas disagree about one path; two more own paths of their own.
			repos := []*Repo{open(t, url, "shared", auth), open(t, url, "shared", auth), open(t, url, "x", auth), open(t, url, "y", auth)}
			var commits []string
			const rounds = 4
			for i := range rounds {
				results := make([]fileset.Result, len(repos))
				var wg sync.WaitGroup
				errs := make([]error, len(repos))
				for j, r := range repos {
					wg.Go(func() {
						files := fileset.Files{"f.yaml": fmt.Appendf(nil, "replica %d round %d\n", j, i)}
						results[j], errs[j] = r.Sync(t.Context(), files, "s")
					})
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				for _, res := range results {
					if res.Changed {
						commits = append(commits, res.Commit)
					}
				}
			}
			history := gittest.Git(t, bare, "rev-list", "main")
			for _, c := range commits {
				if !strings.Contains(history, c) {
					t.Errorf("pushed commit %s is not in the history", c)
				}
			}
			assertLinear(t, bare, len(commits))
			files := gittest.BranchFiles(t, bare, "main")
			if files["x/f.yaml"] != fmt.Sprintf("replica 2 round %d\n", rounds-1) || files["y/f.yaml"] != fmt.Sprintf("replica 3 round %d\n", rounds-1) {
				t.Errorf("branch files = %v, want the last round of x and y", files)
			}
			gittest.Fsck(t, bare)
		})
	}
}

func TestLocalPushIsCompareAndSwap(t *testing.T) {
	t.Parallel()
	// A push moves the branch only from the commit it was built on.
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	mustSync(t, r, fileset.Files{"a": []byte("1")})
	old := r.snap.commit
	// Someone pushes after we saw the branch.
	foreign := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"b": "2"}) }, "theirs")

	next, objs, err := r.snap.next(r.parts, r.snap.owned.changesTo(fileset.Files{"a": []byte("mine")}))
	if err != nil {
		t.Fatal(err)
	}
	data, err := commitObject(next.tree, old, testSignature(), "mine", nil)
	if err != nil {
		t.Fatal(err)
	}
	commit := objs.Add(plumbing.CommitObject, data)
	err = r.remote.Push(t.Context(), r.ref, old, commit, objs)
	if rejected, ok := errors.AsType[*remote.RejectedError](err); !ok || !strings.Contains(rejected.Reason, "main moved to "+foreign) {
		t.Errorf("push on a stale head: error = %v, want it rejected as main moved to %s", err, foreign)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != foreign {
		t.Errorf("head = %s, want the foreign commit %s kept", got, foreign)
	}
	gittest.Fsck(t, bare)
}

func TestLocalReadsOnlyWhatItNeeds(t *testing.T) {
	t.Parallel()
	// A shallow repository lacks the history behind its head: a sync that
	// needs only the head's trees works all the same.
	src := gittest.NewBare(t)
	gittest.HumanPush(t, src, func(w string) { gittest.WriteFiles(t, w, map[string]string{"old": "o\n"}) }, "old")
	gittest.HumanPush(t, src, func(w string) { gittest.WriteFiles(t, w, map[string]string{"README": "r\n"}) }, "head")
	bare := filepath.Join(t.TempDir(), "shallow.git")
	gittest.Git(t, "", "clone", "-q", "--bare", "--depth=1", "file://"+src, bare)
	r := open(t, bare, "p")
	res := mustSync(t, r, fileset.Files{"a": []byte("1")})
	if !res.Changed || gittest.Git(t, bare, "rev-parse", "main") != res.Commit {
		t.Fatalf("Sync = %+v, want the head moved to its commit", res)
	}
	want := map[string]string{"old": "o\n", "README": "r\n", "p/a": "1"}
	if diff := cmp.Diff(want, gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	// Objects were written loose, as git's receive-pack writes a small push.
	if got := gittest.Git(t, bare, "count-objects"); strings.HasPrefix(got, "0 objects") {
		t.Errorf("count-objects = %q, want loose objects", got)
	}
}

func TestSyncCancelled(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	mustSync(t, r, fileset.Files{"a": []byte("1")})
	head := gittest.Git(t, bare, "rev-parse", "main")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Sync(ctx, fileset.Files{"a": []byte("2")}, "s"); !errors.Is(err, context.Canceled) {
		t.Errorf("Sync error = %v, want context.Canceled", err)
	}
	if _, err := r.Diff(ctx, fileset.Files{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Diff error = %v, want context.Canceled", err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
		t.Errorf("head moved to %s", got)
	}
	if res := mustSync(t, r, fileset.Files{"a": []byte("2")}); !res.Changed {
		t.Errorf("Sync after cancel = %+v, want a change", res)
	}
}
