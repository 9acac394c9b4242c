package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// seed pushes two commits to main with git and returns them.
func seed(t *testing.T, s *gitServer) (first, second plumbing.Hash) {
	t.Helper()
	first = plumbing.NewHash(gittest.HumanPush(t, s.bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a": "1"}) }, "first"))
	second = plumbing.NewHash(gittest.HumanPush(t, s.bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a": "2"}) }, "second"))
	return first, second
}

// TestWirePushRefusedByHook: a hook's refusal, with the branch where the
// push expected it, is a *RefusedError carrying the hook's words, logged
// too; the branch stays.
func TestWirePushRefusedByHook(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			_, head := seed(t, s)
			s.hook(t, "pre-receive", "echo 'main is protected by policy' >&2\necho 'ask the owners' >&2\nexit 1\n")
			c, objs := commit(t, head, map[string]string{"a": "mine"}, "mine")
			err := s.transport(t).Push(t.Context(), mainRef, head, c, objs)
			refused, ok := errors.AsType[*RefusedError](err)
			if !ok || refused.Status != "pre-receive hook declined" || refused.Ref != mainRef ||
				!strings.Contains(refused.Message, "main is protected by policy; ask the owners") {
				t.Fatalf("Push error = %#v, want a refusal quoting the hook", err)
			}
			if _, rejected := errors.AsType[*RejectedError](err); rejected {
				t.Errorf("a refusal on an unmoved branch is reported as a lost race: %v", err)
			}
			if want := "remote refused to update main: pre-receive hook declined (remote: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error = %q, want it to start %q", err, want)
			}
			if got := s.head(t, "main"); got != head.String() {
				t.Errorf("main = %s, want %s kept", got, head)
			}
			if !strings.Contains(s.logs.String(), "main is protected by policy") {
				t.Errorf("the hook's words are not logged:\n%s", s.logs)
			}
		})
	}
}

// TestWirePushLostRace: when the branch moves after the push read it, git
// refuses the update in its own words; the transport reads the branch
// again and reports a *RejectedError naming where it went, to retry on.
func TestWirePushLostRace(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			first, head := seed(t, s)
			// Someone else moves main while the push is on its way: git
			// takes the ref lock after the hook, and finds main moved.
			s.hook(t, "pre-receive", fmt.Sprintf("env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main %s\n", first))
			c, objs := commit(t, head, map[string]string{"a": "mine"}, "mine")
			err := s.transport(t).Push(t.Context(), mainRef, head, c, objs)
			rejected, ok := errors.AsType[*RejectedError](err)
			if !ok || !strings.HasPrefix(rejected.Reason, "main moved to "+first.String()+": ") {
				t.Fatalf("Push error = %v, want it rejected as main moved to %s", err, first)
			}
			if got := s.head(t, "main"); got != first.String() {
				t.Errorf("main = %s, want the other writer's %s", got, first)
			}
		})
	}
}

// TestWirePushRefusedThenUnreadable: when the branch cannot be read
// again after a refusal, the error says both.
func TestWirePushRefusedThenUnreadable(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			_, head := seed(t, s)
			gone := filepath.Join(filepath.Dir(s.bare), "gone.git")
			s.hook(t, "pre-receive", fmt.Sprintf("mv %s %s\necho declined >&2\nexit 1\n", s.bare, gone))
			c, objs := commit(t, head, map[string]string{"a": "mine"}, "mine")
			err := s.transport(t).Push(t.Context(), mainRef, head, c, objs)
			if _, ok := errors.AsType[*RefusedError](err); !ok || !strings.Contains(err.Error(), "pre-receive hook declined") ||
				!strings.Contains(err.Error(), "; read main again: ") {
				t.Errorf("Push error = %v, want the refusal and the failed read", err)
			}
		})
	}
}

// TestWirePushOptions: the options reach the server's hooks, in order,
// with a push and a deletion alike; a server that does not advertise
// them gets no push at all.
func TestWirePushOptions(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			_, head := seed(t, s)
			seen := filepath.Join(t.TempDir(), "seen")
			s.hook(t, "pre-receive", `i=0; while [ $i -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do eval "echo \$GIT_PUSH_OPTION_$i"; i=$((i+1)); done >> `+seen+"\necho -- >> "+seen+"\n")
			tr := s.transport(t, func(o *Options) {
				o.PushOptions = []string{"merge_request.create=", "merge_request.target=main", "ci.variable=A=B"}
			})
			review := plumbing.NewBranchReferenceName("review")
			c, objs := commit(t, head, map[string]string{"a": "mine"}, "mine")

			err := tr.Push(t.Context(), review, plumbing.ZeroHash, c, objs)
			if err == nil || !strings.Contains(err.Error(), "does not accept push options") {
				t.Fatalf("Push to a server without push options: error = %v", err)
			}
			if _, statErr := os.Stat(seen); statErr == nil || s.head(t, "review") != "" {
				t.Fatalf("the push reached the server's hooks or moved review")
			}
			gittest.Git(t, s.bare, "config", "receive.advertisePushOptions", "true")
			if err := tr.Push(t.Context(), review, plumbing.ZeroHash, c, objs); err != nil {
				t.Fatalf("Push: %v", err)
			}
			if err := tr.Push(t.Context(), review, c, plumbing.ZeroHash, objs); err != nil {
				t.Fatalf("Push deleting review: %v", err)
			}
			b, err := os.ReadFile(seen)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Repeat("merge_request.create=\nmerge_request.target=main\nci.variable=A=B\n--\n", 2)
			if string(b) != want {
				t.Errorf("the hook saw:\n%s\nwant:\n%s", b, want)
			}
		})
	}
}

// TestWirePushUnpackFailed: a pack git will not take (here a commit that
// fails receive.fsckObjects) is an error naming the unpack, with git's
// words, and moves nothing.
func TestWirePushUnpackFailed(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			_, head := seed(t, s)
			gittest.Git(t, s.bare, "config", "receive.fsckObjects", "true")
			_, objs := commit(t, head, map[string]string{"a": "mine"}, "mine")
			bad := objs.Add(plumbing.CommitObject, fmt.Appendf(nil, "tree %s\nparent %s\nauthor no email 1700000000 +0000\ncommitter ssm <ssm@example.com> 1700000000 +0000\n\nbad\n", plumbing.ComputeHash(plumbing.TreeObject, nil), head))
			objs.Add(plumbing.TreeObject, nil)
			err := s.transport(t).Push(t.Context(), mainRef, head, bad, objs)
			if err == nil || !strings.HasPrefix(err.Error(), "remote could not unpack: ") {
				t.Fatalf("Push of a malformed commit: error = %v, want an unpack failure", err)
			}
			if _, ok := errors.AsType[*RefusedError](err); ok {
				t.Errorf("an unpack failure is reported as a refusal: %v", err)
			}
			if got := s.head(t, "main"); got != head.String() {
				t.Errorf("main = %s, want %s kept", got, head)
			}
		})
	}
}
