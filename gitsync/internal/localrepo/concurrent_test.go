package localrepo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// raceEnv makes the test binary a racing writer (TestHelperProcess): it
// holds the writer's number, the commit it updates from and the
// repository, "n|base|dir".
const raceEnv = "SSM_LOCALREPO_RACER"

// racerCommit is writer n's commit on base: each writer's differs.
func racerCommit(base plumbing.Hash, n int) (plumbing.Hash, map[string]string) {
	files := map[string]string{"writer": fmt.Sprint(n)}
	c, _ := newCommit(base, files, "racer")
	return c, files
}

// outcome sorts what an update returned: "won", "moved" (a MovedError) or
// the error.
func outcome(err error) string {
	if err == nil {
		return "won"
	}
	if _, ok := errors.AsType[*MovedError](err); ok {
		return "moved"
	}
	return err.Error()
}

func TestConcurrentWritersOneWins(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"goroutines", "processes"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			bare := gittest.NewBare(t)
			base := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"README": "r\n"}) }, "seed")
			const writers = 6
			outcomes := make([]string, writers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for n := range writers {
				wg.Go(func() {
					<-start
					if kind == "goroutines" {
						outcomes[n] = outcome(race(t, bare, plumbing.NewHash(base), n))
						return
					}
					cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$")
					cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d|%s|%s", raceEnv, n, base, bare))
					out, err := cmd.CombinedOutput()
					if err != nil {
						outcomes[n] = fmt.Sprintf("%v: %s", err, out)
					} else {
						// The outcome is the last line, after any log.
						lines := strings.Split(strings.TrimSpace(string(out)), "\n")
						outcomes[n] = lines[len(lines)-1]
					}
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for n, o := range outcomes {
				switch {
				case o == "won" && winner < 0:
					winner = n
				case o == "won":
					t.Errorf("writers %d and %d both won", winner, n)
				case o != "moved":
					t.Errorf("writer %d: %s", n, o)
				}
			}
			if winner < 0 {
				t.Fatalf("no writer won: %v", outcomes)
			}
			want, _ := racerCommit(plumbing.NewHash(base), winner)
			if got := revParse(t, bare, "main"); got != want.String() {
				t.Errorf("main = %s, want the winner's %s", got, want)
			}
			if got := gittest.Git(t, bare, "cat-file", "-p", "main:writer"); got != fmt.Sprint(winner) {
				t.Errorf("main:writer = %q, want %d", got, winner)
			}
			assertNoLeftovers(t, bare)
			gittest.Fsck(t, bare)
		})
	}
}

// race moves main of dir from base to writer n's commit on it, with a Repo
// of its own.
func race(t testing.TB, dir string, base plumbing.Hash, n int) error {
	r := open(t, dir, nil)
	if _, _, err := r.Head(t.Context(), main); err != nil {
		return err
	}
	c, files := racerCommit(base, n)
	_, objs := newCommit(base, files, "racer")
	return r.Update(t.Context(), main, base, c, objs)
}

// TestHelperProcess is a racing writer when raceEnv is set, and a crash
// test's child when crashtest says so; by itself it does nothing.
func TestHelperProcess(t *testing.T) {
	if spec := os.Getenv(raceEnv); spec != "" {
		f := strings.SplitN(spec, "|", 3)
		n, _ := strconv.Atoi(f[0])
		fmt.Println(outcome(race(t, f[2], plumbing.NewHash(f[1]), n)))
		os.Exit(0)
	}
	crashChild()
}

func TestRacesGitUpdateRef(t *testing.T) {
	t.Parallel()
	// git update-ref and the store move main from the same commit at once,
	// round after round: in each exactly one wins, the other sees the
	// branch moved or its lock held.
	bare := newBare(t, nil, "core.logAllRefUpdates", "true")
	r := open(t, bare, nil)
	head := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a": "0"})
	ours, gits := 0, 0
	for round := range 30 {
		c, objs := newCommit(head, map[string]string{"a": fmt.Sprint(round)}, "ours")
		theirs, tobjs := newCommit(head, map[string]string{"a": fmt.Sprint(round)}, "git's")
		// git's commit must exist before git points a branch at it.
		if err := r.Update(t.Context(), "refs/heads/scratch", plumbing.ZeroHash, theirs, tobjs); err != nil {
			t.Fatal(err)
		}
		if err := r.Update(t.Context(), "refs/heads/scratch", theirs, plumbing.ZeroHash, nil); err != nil {
			t.Fatal(err)
		}
		var gitErr, ourErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, gitErr = gitOut(bare, "update-ref", "-m", "git", "refs/heads/main", theirs.String(), head.String())
		})
		wg.Go(func() { ourErr = r.Update(t.Context(), main, head, c, objs) })
		wg.Wait()
		got := revParse(t, bare, "main")
		_, moved := errors.AsType[*MovedError](ourErr)
		_, locked := errors.AsType[*LockedError](ourErr)
		switch {
		case ourErr == nil && gitErr != nil && got == c.String():
			ours++
			head = c
		case gitErr == nil && (moved || locked) && got == theirs.String():
			gits++
			head = theirs
		default:
			t.Fatalf("round %d: ours %v, git's %v, main = %s (ours %s, git's %s)", round, ourErr, gitErr, got, c, theirs)
		}
	}
	t.Logf("the store won %d rounds, git %d", ours, gits)
	if got := gittest.Git(t, bare, "rev-list", "--count", "main"); got != "31" {
		t.Errorf("main has %s commits, want 31: one per round", got)
	}
	if got := strings.Count(gittest.Git(t, bare, "reflog", "show", "main"), "\n") + 1; got != 31 {
		t.Errorf("main's reflog has %d entries, want 31", got)
	}
	assertNoLeftovers(t, bare)
	gittest.Fsck(t, bare)
}
