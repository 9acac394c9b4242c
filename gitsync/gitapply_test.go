package gitsync

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

func TestApplyDecidesOnTheHeadItPushesOn(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/n": "1"}) }, "seed")
			r := open(t, url, "p", auth)
			var seen []string // message and files of each attempt
			plan := func(s fileset.Stored) (fileset.Write, error) {
				seen = append(seen, s.Message()+"|"+string(s.Files()["n"]))
				if len(seen) == 1 {
					// Someone pushes between this attempt's read and its push.
					gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/n": "2"}) }, "human")
				}
				n := string(s.Files()["n"])
				return fileset.Write{Files: fileset.Files{"n": []byte(n + "+")}, Subject: "increment", Trailers: []string{"Ssm-Seen: " + n}}, nil
			}
			res, err := r.Apply(t.Context(), plan)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"seed\n|1", "human\n|2"}, seen); diff != "" {
				t.Errorf("what the plan saw (-want +got):\n%s", diff)
			}
			if got := gittest.BranchFiles(t, bare, "main")["p/n"]; got != "2+" || res.Retries != 1 {
				t.Errorf("p/n = %q after %d retries, want 2+ decided on the moved head after 1", got, res.Retries)
			}
			msg := gittest.Git(t, bare, "log", "-1", "--format=%B")
			if want := "increment\n\n0 added, 1 updated, 0 removed\n\nupdated: n\n\nSsm-Seen: 2"; msg != want {
				t.Errorf("message:\n%s\nwant:\n%s", msg, want)
			}
			if got := gittest.Git(t, bare, "log", "-1", "--format=%(trailers:key=Ssm-Seen,valueonly)"); got != "2" {
				t.Errorf("git reads the trailer Ssm-Seen as %q, want 2", got)
			}
			// The next plan sees that message, from memory or from a fresh read alike.
			for _, repo := range []*Repo{r, open(t, url, "p", auth)} {
				if _, err := repo.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) {
					if s.Message() != msg+"\n" {
						t.Errorf("Stored.Message = %q, want %q", s.Message(), msg+"\n")
					}
					return fileset.Write{Files: s.Files()}, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestApplyWritesNothingWithoutChangeOrOnError(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	// A branch without commits: nothing stored, no message.
	res, err := r.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) {
		if s.Message() != "" || len(s.Files()) != 0 {
			t.Errorf("Stored of an empty branch = %q, %v", s.Message(), s.Files())
		}
		return fileset.Write{Files: fileset.Files{"a": []byte("1")}, Trailers: []string{"K: v"}}, nil
	})
	if err != nil || !res.Changed {
		t.Fatalf("first Apply = %+v, %v", res, err)
	}
	head := gittest.Git(t, bare, "rev-parse", "main")
	tests := []struct {
		name    string
		write   fileset.Write
		err     error
		wantErr string
	}{
		{name: "same files, other trailers", write: fileset.Write{Files: fileset.Files{"a": []byte("1")}, Trailers: []string{"K: other"}}},
		{name: "plan error", err: errPlan, wantErr: errPlan.Error()},
		{name: "invalid path", write: fileset.Write{Files: fileset.Files{"../a": nil}}, wantErr: `invalid file path "../a"`},
		{name: "trailer without separator", write: fileset.Write{Files: fileset.Files{"b": nil}, Trailers: []string{"K:v"}}, wantErr: "invalid trailer"},
		{name: "trailer key with a space", write: fileset.Write{Files: fileset.Files{"b": nil}, Trailers: []string{"Some key: v"}}, wantErr: "invalid trailer"},
		{name: "trailer without value", write: fileset.Write{Files: fileset.Files{"b": nil}, Trailers: []string{"K: "}}, wantErr: "empty value"},
		{name: "trailer on two lines", write: fileset.Write{Files: fileset.Files{"b": nil}, Trailers: []string{"K: a\nL: b"}}, wantErr: "newlines"},
	}
	for _, tt := range tests {
		res, err := r.Apply(t.Context(), func(fileset.Stored) (fileset.Write, error) { return tt.write, tt.err })
		switch {
		case tt.wantErr == "" && (err != nil || res.Changed):
			t.Errorf("%s: Apply = %+v, %v; want no change", tt.name, res, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: Apply error = %v, want %q", tt.name, err, tt.wantErr)
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("%s: Apply error = %v, want the plan's error as it is", tt.name, err)
		}
		if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
			t.Fatalf("%s: head moved to %s", tt.name, got)
		}
	}
}

var errPlan = errors.New("the plan holds the write")

// The stored files a Plan is shown are what the branch holds, whether the
// Repo built them anew or carried them over from its last commit
// (handOver): after random writes, and after someone else's push.
func TestStoredFilesFollowCommits(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	rng := rand.New(rand.NewPCG(1, 2))
	want := fileset.Files{}
	for step := range 60 {
		if step%20 == 10 { // someone else changes the owned path
			gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/human.yaml": fmt.Sprint(step)}) }, "human")
			want["human.yaml"] = []byte(fmt.Sprint(step))
		}
		next := maps.Clone(want)
		for range 1 + rng.IntN(3) {
			p := fmt.Sprintf("d%d/f%d.yaml", rng.IntN(3), rng.IntN(8))
			if _, ok := next[p]; ok && rng.IntN(3) == 0 {
				delete(next, p)
			} else {
				next[p] = []byte(fmt.Sprint(step, p))
			}
		}
		for _, repo := range []*Repo{r, open(t, bare, "p", func(o *RepoOptions) { o.Logger = nil })} {
			if _, err := repo.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) {
				if diff := cmp.Diff(want, s.Files(), cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("step %d: stored files (-want +got):\n%s", step, diff)
				}
				return fileset.Write{Files: s.Files()}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) { return fileset.Write{Files: next}, nil }); err != nil {
			t.Fatal(err)
		}
		want = next
	}
}
