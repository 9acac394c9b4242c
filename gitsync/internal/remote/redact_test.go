package remote

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestErrorsShowNoSecretOfTheURL: a token in the query or fragment of the
// URL shows in no error, whatever the server quotes back: git's ssh
// commands name the repository by its path as given, query and all.
func TestErrorsShowNoSecretOfTheURL(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		for part, secret := range map[string]string{"query": "?private_token=SECRET", "fragment": "#SECRET"} {
			t.Run(kind+"/"+part, func(t *testing.T) {
				t.Parallel()
				s := serve(t, kind)
				url := s.opts.URL + secret
				if kind == "ssh" { // a repository the server's git looks for
					url = strings.TrimSuffix(s.opts.URL, s.bare) + filepath.Join(filepath.Dir(s.bare), "missing.git") + secret
				}
				tr := s.transport(t, func(o *Options) { o.URL = url })
				_, errEmpty := tr.Empty(t.Context())
				_, _, errFetch := tr.FetchHead(t.Context(), mainRef, plumbing.ZeroHash)
				c, objs := commit(t, plumbing.ZeroHash, map[string]string{"a": "1"}, "c")
				errPush := tr.Push(t.Context(), mainRef, plumbing.ZeroHash, c, objs)
				for _, err := range []error{errEmpty, errFetch, errPush} {
					if err == nil || strings.Contains(err.Error(), "SECRET") {
						t.Errorf("error = %v, want one without the secret of %s", err, url)
					}
				}
				if msg := fmt.Sprint(errEmpty); kind == "ssh" && !strings.Contains(msg, "missing.git"+strings.Replace(secret, "SECRET", "xxxxx", 1)) {
					t.Errorf("error = %s, want the path shown redacted", msg)
				}
			})
		}
	}
}

// TestLocalErrorsShowNoSecretOfTheURL: the same for a local repository,
// whose errors quote its path.
func TestLocalErrorsShowNoSecretOfTheURL(t *testing.T) {
	t.Parallel()
	url := "file://" + filepath.Join(t.TempDir(), "missing.git") + "?private_token=SECRET"
	tr := newLocalTransport(t, url)
	_, err := tr.Empty(t.Context())
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("Empty error = %v, want one without the secret of %s", err, url)
	}
}
