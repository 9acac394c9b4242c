package localrepo

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// What the store writes is what git writes: reflogs where git keeps them,
// the modes git gives each kind of file, so that git running as another
// user reads and writes on.

func TestReflog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setting    string // core.logAllRefUpdates; "" leaves it unset
		existing   bool   // the branch's reflog exists, empty
		ref        string
		wantBranch bool // whether the branch's reflog is written
		wantHead   bool // whether logs/HEAD is written
	}{
		{name: "always", setting: "always", ref: "refs/heads/main", wantBranch: true, wantHead: true},
		{name: "true", setting: "true", ref: "refs/heads/main", wantBranch: true, wantHead: true},
		{name: "true, not HEAD's branch", setting: "true", ref: "refs/heads/other", wantBranch: true},
		{name: "true, a tag", setting: "true", ref: "refs/tags/v1"},
		{name: "always, a tag", setting: "always", ref: "refs/tags/v1", wantBranch: true},
		{name: "unset in a bare repository", ref: "refs/heads/main"},
		{name: "false", setting: "false", ref: "refs/heads/main"},
		{name: "false with an existing log", setting: "false", existing: true, ref: "refs/heads/main", wantBranch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var config []string
			if tt.setting != "" {
				config = []string{"core.logAllRefUpdates", tt.setting}
			}
			bare := newBare(t, nil, config...)
			branchLog := filepath.Join(bare, "logs", filepath.FromSlash(tt.ref))
			if tt.existing {
				gittest.WriteFiles(t, bare, map[string]string{"logs/" + tt.ref: ""})
			}
			r := open(t, bare, nil, func(o *Options) { o.Committer = "Bot <bot@example.com>" })
			ref := plumbing.ReferenceName(tt.ref)
			c1 := mustUpdate(t, r, ref, plumbing.ZeroHash, map[string]string{"a": "1"})
			c2 := mustUpdate(t, r, ref, c1, map[string]string{"a": "2"})
			commits := []string{c1.String(), c2.String()}
			checkReflog(t, branchLog, tt.wantBranch, commits)
			checkReflog(t, filepath.Join(bare, "logs", "HEAD"), tt.wantHead, commits)
			if tt.wantBranch {
				// git reads them back as its own.
				got := gittest.Git(t, bare, "reflog", "show", "--format=%H %gs %gn %ge", tt.ref)
				want := commits[1] + " push Bot bot@example.com\n" + commits[0] + " push Bot bot@example.com"
				if got != want {
					t.Errorf("git reflog show %s:\n%s\nwant:\n%s", tt.ref, got, want)
				}
			}
			gittest.Fsck(t, bare)
		})
	}
}

// reflogEntry is a line of a reflog as git's receive-pack writes it.
var reflogEntry = regexp.MustCompile(`^[0-9a-f]{40} [0-9a-f]{40} Bot <bot@example.com> \d+ [+-]\d{4}\tpush$`)

// checkReflog checks that the reflog at p holds one entry for each of the
// two commits if want is set, and that it does not exist otherwise.
func checkReflog(t *testing.T, p string, want bool, commits []string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if !want {
		if err == nil {
			t.Errorf("%s written:\n%s", p, b)
		}
		return
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !reflogEntry.MatchString(lines[0]) || !reflogEntry.MatchString(lines[1]) ||
		!strings.HasPrefix(lines[0], strings.Repeat("0", 40)+" "+commits[0]) || !strings.HasPrefix(lines[1], commits[0]+" "+commits[1]) {
		t.Errorf("%s:\n%s\nwant two git reflog entries for %v", p, b, commits)
	}
}

func TestModesMatchGit(t *testing.T) {
	t.Parallel()
	// What the store writes must be readable and writable by whoever git
	// lets read and write the repository: the modes git itself gives the
	// same kinds of files, for each core.sharedRepository.
	for _, shared := range []string{"", "umask", "group", "true", "all", "0640", "0660", "0664", "0600"} {
		t.Run("shared="+shared, func(t *testing.T) {
			t.Parallel()
			var args []string
			if shared != "" {
				args = []string{"--shared=" + shared}
			}
			ours := newBare(t, args, "core.logAllRefUpdates", "always")
			theirs := newBare(t, args, "core.logAllRefUpdates", "always")
			r := open(t, ours, nil)
			c1 := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a.yaml": "small\n"})
			mustUpdate(t, r, main, c1, manyFiles(120, "pack"))
			gittest.HumanPush(t, theirs, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a.yaml": "small\n"}) }, "small")
			gittest.HumanPush(t, theirs, func(w string) { gittest.WriteFiles(t, w, manyFiles(120, "pack")) }, "pack")
			got, want := modesByKind(t, ours), modesByKind(t, theirs)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("modes of what the store wrote (-git's +ours):\n%s", diff)
			}
			if len(got["pack"]) == 0 || len(got["loose object"]) == 0 || len(got["reflog"]) == 0 {
				t.Errorf("kinds written = %v, want loose objects, a pack and reflogs", got)
			}
			gittest.Fsck(t, ours)
		})
	}
}

func TestAnotherUserReadsAndWritesOn(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("skipped: running git as another user (uid 65534) needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	// A repository shared with a group, as a git daemon or sshd serving it
	// as another user of the group needs it: after the store wrote (as
	// root), that user reads everything and writes into what the store
	// made: object directories, reflogs.
	const nobody = 65534
	bare := newBare(t, []string{"--shared=group"}, "core.logAllRefUpdates", "always")
	for d := filepath.Dir(bare); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil { // t.TempDir's are private
			t.Fatal(err)
		}
	}
	chownTree(t, bare, nobody)
	r := open(t, bare, nil)
	c1 := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a.yaml": "small\n"})
	c2 := mustUpdate(t, r, main, c1, manyFiles(120, "pack"))
	gitAs := func(gid int, stdin string, args ...string) (string, error) {
		cmd := exec.Command(setpriv, append([]string{"--reuid=65534", fmt.Sprintf("--regid=%d", gid), "--clear-groups",
			"git", "-c", "safe.directory=*"}, args...)...)
		cmd.Dir = "/"
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_DIR="+bare,
			"GIT_COMMITTER_NAME=Other", "GIT_COMMITTER_EMAIL=other@example.com")
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, args := range [][]string{
		{"log", "--format=%H %s", "main"},
		{"cat-file", "-p", "main:f007.yaml"},
		{"fsck", "--full", "--strict", "--no-dangling"},
	} {
		if out, err := gitAs(nobody, "", args...); err != nil {
			t.Errorf("git %s as uid 65534: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// A blob that goes into an object directory the store made.
	var made string
	for _, p := range must(filepath.Glob(filepath.Join(bare, "objects", "??"))) {
		made += filepath.Base(p) + " "
	}
	var blob string
	for i := 0; blob == ""; i++ {
		data := fmt.Sprintf("other %d\n", i)
		if h := plumbing.ComputeHash(plumbing.BlobObject, []byte(data)).String(); strings.Contains(made, h[:2]+" ") {
			blob = data
		}
	}
	if out, err := gitAs(nobody, blob, "hash-object", "-w", "--stdin"); err != nil {
		t.Errorf("git hash-object -w into an object directory the store made, as uid 65534: %v\n%s", err, out)
	}
	// A ref update appending to the reflogs the store made.
	if out, err := gitAs(nobody, "", "update-ref", "-m", "other", "refs/heads/main", c1.String(), c2.String()); err != nil {
		t.Errorf("git update-ref as uid 65534: %v\n%s", err, out)
	}
	if got := gittest.Git(t, bare, "reflog", "show", "--format=%gs", "main"); got != "other\npush\npush" {
		t.Errorf("git reflog show main:\n%s", got)
	}
}

// chownTree gives everything below dir to the group gid, as an
// administrator sharing a repository with a group does.
func chownTree(t *testing.T, dir string, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, -1, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
