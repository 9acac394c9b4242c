package gitsync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestPushOptions: git's own receive-pack hands the options to its hooks,
// over http and ssh, with every push: a proposal and its deletion alike.
func TestPushOptions(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"http", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/a": "0"}) }, "seed")
			seen := filepath.Join(t.TempDir(), "seen")
			hook := "#!/bin/sh\n{ i=0; while [ $i -lt \"${GIT_PUSH_OPTION_COUNT:-0}\" ]; do eval \"echo \\$GIT_PUSH_OPTION_$i\"; i=$((i+1)); done; echo --; } >> " + seen + "\n"
			if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
			opts := func(o *RepoOptions) {
				auth(o)
				o.PushBranch = review
				// As git push -o takes them: bare words (GitLab's
				// merge_request.create, ci.skip) as well as KEY=VALUE.
				o.PushOptions = []string{"merge_request.create", "merge_request.create=", "merge_request.target=main", "ci.skip", "title=a b = c"}
			}

			// git's receive-pack takes options only when told to.
			r := open(t, url, "p", opts)
			if _, err := r.Sync(t.Context(), fileset.Files{"a": []byte("1")}, "s"); err == nil || !strings.Contains(err.Error(), "does not accept push options") {
				t.Fatalf("Sync to a server without push options: error = %v, want one saying so", err)
			}
			gittest.Git(t, bare, "config", "receive.advertisePushOptions", "true")
			mustSync(t, r, fileset.Files{"a": []byte("1")})
			mustSync(t, r, fileset.Files{"a": []byte("0")}) // the base holds it: deleted
			if got := branchHead(t, bare, review); got != "" {
				t.Errorf("%s = %s, want it deleted", review, got)
			}
			b, err := os.ReadFile(seen)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Repeat("merge_request.create\nmerge_request.create=\nmerge_request.target=main\nci.skip\ntitle=a b = c\n--\n", 2)
			if string(b) != want {
				t.Errorf("the hook saw:\n%s\nwant:\n%s", b, want)
			}
		})
	}
}
