package gitsync

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// manyFiles returns n small files: enough for a push of more than 100
// objects to go as a pack.
func manyFiles(n int, version string) fileset.Files {
	files := fileset.Files{}
	for i := range n {
		files[fmt.Sprintf("f%03d.yaml", i)] = fmt.Appendf(nil, "%d %s\n", i, version)
	}
	return files
}

func TestLocalModesMatchGit(t *testing.T) {
	t.Parallel()
	// What ssm writes must be readable and writable by whoever git lets
	// read and write the repository: the modes git itself gives the same
	// kinds of files, for each core.sharedRepository.
	for _, shared := range []string{"", "umask", "group", "true", "all", "0640", "0660", "0664"} {
		t.Run("shared="+shared, func(t *testing.T) {
			t.Parallel()
			ours, theirs := newSharedBare(t, shared), newSharedBare(t, shared)
			for _, v := range []string{"small", "pack"} {
				files := fileset.Files{"a.yaml": []byte(v + "\n")}
				if v == "pack" {
					files = manyFiles(120, v)
				}
				mustSync(t, open(t, ours, "p"), files)
				gittest.HumanPush(t, theirs, func(w string) {
					gittest.WriteFiles(t, w, under("p/", files))
				}, v)
			}
			got, want := modesByKind(t, ours), modesByKind(t, theirs)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("modes of what ssm wrote (-git's +ssm's):\n%s", diff)
			}
			if len(got["pack"]) == 0 || len(got["loose object"]) == 0 || len(got["reflog"]) == 0 {
				t.Errorf("kinds written = %v, want loose objects, a pack and reflogs", got)
			}
			gittest.Fsck(t, ours)
		})
	}
}

// newSharedBare creates an empty bare repository as git init --shared does
// (none when shared is empty), which keeps reflogs for every ref.
func newSharedBare(t *testing.T, shared string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo.git")
	args := []string{"init", "-q", "--bare", "-b", "main"}
	if shared != "" {
		args = append(args, "--shared="+shared)
	}
	gittest.Git(t, "", append(args, dir)...)
	gittest.Git(t, dir, "config", "core.logAllRefUpdates", "always")
	return dir
}

// modesByKind returns the modes found in the repository at dir for each
// kind of file a push writes, sorted.
func modesByKind(t *testing.T, dir string) map[string][]string {
	t.Helper()
	kinds := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		kind := fileKind(filepath.ToSlash(rel), d.IsDir())
		if kind == "" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if m := fi.Mode().String(); !slices.Contains(kinds[kind], m) {
			kinds[kind] = append(kinds[kind], m)
			slices.Sort(kinds[kind])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

var (
	objectDir   = regexp.MustCompile(`^objects/[0-9a-f]{2}$`)
	looseObject = regexp.MustCompile(`^objects/[0-9a-f]{2}/[0-9a-f]{38}$`)
)

// fileKind names the kind of the file at the slash path rel of a
// repository, "" for what a push does not create.
func fileKind(rel string, dir bool) string {
	switch {
	case dir && objectDir.MatchString(rel):
		return "object directory"
	case dir && strings.HasPrefix(rel, "logs"):
		return "reflog directory"
	case dir:
		return ""
	case looseObject.MatchString(rel):
		return "loose object"
	case strings.HasPrefix(rel, "objects/pack/pack-") && strings.HasSuffix(rel, ".pack"):
		return "pack"
	case strings.HasPrefix(rel, "objects/pack/pack-") && strings.HasSuffix(rel, ".idx"):
		return "pack index"
	case rel == "refs/heads/main":
		return "ref"
	case strings.HasPrefix(rel, "logs/"):
		return "reflog"
	}
	return ""
}

func TestLocalReflog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setting    string // core.logAllRefUpdates; "" leaves it unset
		existing   bool   // the branch's reflog exists, empty
		wantBranch bool   // whether logs/refs/heads/main is written
		wantHead   bool   // whether logs/HEAD is written
	}{
		{name: "always", setting: "always", wantBranch: true, wantHead: true},
		{name: "true", setting: "true", wantBranch: true, wantHead: true},
		{name: "unset in a bare repository", setting: ""},
		{name: "false", setting: "false"},
		{name: "false with an existing log", setting: "false", existing: true, wantBranch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bare := gittest.NewBare(t)
			if tt.setting != "" {
				gittest.Git(t, bare, "config", "core.logAllRefUpdates", tt.setting)
			}
			branchLog := filepath.Join(bare, "logs", "refs", "heads", "main")
			if tt.existing {
				gittest.WriteFiles(t, bare, map[string]string{"logs/refs/heads/main": ""})
			}
			r := open(t, bare, "p")
			var commits []string
			for i := range 2 {
				commits = append(commits, mustSync(t, r, fileset.Files{"a": fmt.Appendf(nil, "%d", i)}).Commit)
			}
			checkReflog(t, branchLog, tt.wantBranch, commits)
			checkReflog(t, filepath.Join(bare, "logs", "HEAD"), tt.wantHead, commits)
			if tt.wantBranch {
				// git reads them back as its own.
				got := gittest.Git(t, bare, "reflog", "show", "--format=%H %gs", "main")
				want := commits[1] + " push\n" + commits[0] + " push"
				if got != want {
					t.Errorf("git reflog show main:\n%s\nwant:\n%s", got, want)
				}
			}
			if tt.wantHead {
				if got := gittest.Git(t, bare, "reflog", "--format=%H"); got != commits[1]+"\n"+commits[0] {
					t.Errorf("git reflog:\n%s\nwant ssm's commits", got)
				}
			}
			gittest.Fsck(t, bare)
		})
	}
}

// reflogEntry is a line of a reflog as git's receive-pack writes it.
var reflogEntry = regexp.MustCompile(`^[0-9a-f]{40} [0-9a-f]{40} ssm <ssm@localhost> \d+ [+-]\d{4}\tpush$`)

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

func TestLocalRepositoryReadableByAnotherUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("skipped: running git as another user (uid 65534) needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	const nobody = 65534
	tests := []struct {
		name   string
		shared string
		gid    int // of the repository's files, and of the reader
	}{
		{name: "umask", gid: 0},
		{name: "group 0640", shared: "0640", gid: nobody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bare := newSharedBare(t, tt.shared)
			for d := filepath.Dir(bare); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
				if err := os.Chmod(d, 0o755); err != nil { // t.TempDir's are private
					t.Fatal(err)
				}
			}
			if tt.gid != 0 {
				chownTree(t, bare, tt.gid)
			}
			r := open(t, bare, "p")
			mustSync(t, r, fileset.Files{"a.yaml": []byte("small\n")})
			mustSync(t, r, manyFiles(120, "pack"))
			gitAs := func(gid int, args ...string) ([]byte, error) {
				cmd := exec.Command(setpriv, append([]string{"--reuid=65534", fmt.Sprintf("--regid=%d", gid), "--clear-groups",
					"git", "-c", "safe.directory=*"}, args...)...)
				cmd.Dir = "/"
				cmd.Env = append(os.Environ(), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_DIR="+bare)
				return cmd.CombinedOutput()
			}
			for _, args := range [][]string{
				{"log", "--format=%H %s", "main"},
				{"cat-file", "-p", "main:p/f007.yaml"},
				{"fsck", "--full", "--strict", "--no-dangling"},
			} {
				if out, err := gitAs(nobody, args...); err != nil {
					t.Errorf("git %s as uid 65534: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			if tt.shared == "0640" {
				// Outside the group, nothing is readable: the check can fail.
				if out, err := gitAs(nobody-1, "cat-file", "-p", "main:p/f007.yaml"); err == nil {
					t.Errorf("a user outside the group read the repository:\n%s", out)
				}
			}
		})
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
