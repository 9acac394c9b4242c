package redact

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "nothing secret", in: "https://127.0.0.1:6443/", want: "https://127.0.0.1:6443/"},
		{name: "user and password", in: "https://admin:PW@127.0.0.1:6443/?token=QS", want: "https://xxxxx@127.0.0.1:6443/?token=xxxxx"},
		{name: "a token as the user", in: "https://glpat-123@gitlab.example/g/r.git", want: "https://xxxxx@gitlab.example/g/r.git"},
		{name: "query keys stay", in: "https://h/r.git?private_token=SECRET&ref=main", want: "https://h/r.git?private_token=xxxxx&ref=xxxxx"},
		{name: "a bare query token", in: "https://h/ca.pem?SECRET", want: "https://h/ca.pem?xxxxx"},
		{name: "fragment", in: "https://h/p#access_token=SECRET", want: "https://h/p#xxxxx"},
		{name: "ssh keeps its user", in: "ssh://git@h:2222/r.git", want: "ssh://git@h:2222/r.git"},
		{name: "ssh password", in: "ssh://git:SECRET@h/r.git", want: "ssh://git:xxxxx@h/r.git"},
		{name: "scp-like", in: "git@github.com:org/repo.git", want: "git@github.com:org/repo.git"},
		{name: "scp-like password", in: "git:SECRET@h:r.git", want: "git:xxxxx@h:r.git"},
		{name: "host:port with a password", in: "admin:SECRET@h:6443", want: "admin:xxxxx@h:6443"},
		{name: "local path", in: "/srv/git/repo.git", want: "/srv/git/repo.git"},
		{name: "local path with an @", in: "/srv/@team/repo.git", want: "/srv/@team/repo.git"},
		{name: "file URL", in: "file:///srv/git/repo.git", want: "file:///srv/git/repo.git"},
		{name: "unparsable: @ in the password", in: "https://u:p@ss@h/r", want: "https://xxxxx@h/r"},
		{name: "unparsable: bad port", in: "https://u:SECRET@h:port/?t=QS", want: "https://xxxxx@h:port/?t=xxxxx"},
		{name: "unparsable: control character", in: "https://u:SECRET@h/\x7f?t=QS", want: "https://xxxxx@h/\x7f?t=xxxxx"},
		{name: "unparsable: percent", in: "https://u:SEC%zzRET@h/", want: "https://xxxxx@h/"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URL(tt.in); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "no url", in: "dial tcp 127.0.0.1:1: connection refused", want: "dial tcp 127.0.0.1:1: connection refused"},
		{name: "quoted", in: `Get "https://admin:***@h:1/api?labelSelector=a%3Db": dial tcp`, want: `Get "https://xxxxx@h:1/api?labelSelector=xxxxx": dial tcp`},
		{name: "two", in: "from https://u:p@a/?t=1 to ssh://git:p@b/r", want: "from https://xxxxx@a/?t=xxxxx to ssh://git:xxxxx@b/r"},
		{name: "escaped quotes", in: `err="Get \"http://h/r.git?private_token=S/info/refs\": EOF"`, want: `err="Get \"http://h/r.git?private_token=xxxxx\": EOF"`},
		{name: "no scheme", in: "see ://x", want: "see ://x"},
		{name: "end of text", in: "url https://u:p@h", want: "url https://xxxxx@h"},
		{name: "punctuation after", in: "push to https://h/r.git: refused; from https://u:p@h.", want: "push to https://h/r.git: refused; from https://xxxxx@h."},
		{name: "punctuation after a query value", in: "push to https://h/r.git?private_token=S:!", want: "push to https://h/r.git?private_token=xxxxx"},
		{name: "punctuation after a masked value", in: "push to https://h/r.git?private_token=xxxxx: refused", want: "push to https://h/r.git?private_token=xxxxx: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestErrorOfNetHTTP: the error of a request to a URL with secrets, as
// net/http makes it (it masks the password alone), shows none of them.
func TestErrorOfNetHTTP(t *testing.T) {
	_, err := http.Get("http://user-SECRET:PW-SECRET@127.0.0.1:1/?token=QS-SECRET")
	if err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	for _, s := range []string{"user-SECRET", "QS-SECRET"} {
		if !strings.Contains(err.Error(), s) {
			t.Logf("net/http's error does not hold %s any more: %v", s, err)
		}
	}
	wrapped := fmt.Errorf("fetch CA: %w", err)
	r := Error(wrapped)
	if strings.Contains(r.Error(), "SECRET") {
		t.Errorf("Error left a secret: %s", r)
	}
	if !errors.Is(r, wrapped) || !errors.Is(r, err) {
		t.Error("the redacted error does not unwrap to the original")
	}
	var ue *url.Error
	if !errors.As(r, &ue) {
		t.Error("errors.As no longer finds the *url.Error")
	}
	if plain := errors.New("no url"); Error(plain) != plain {
		t.Error("an error without a URL was wrapped")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}

// FuzzURL: for a URL with user information and a query built from any
// parts, neither the user, the password nor the query value appear in
// URL's output, nor in Text's output of a message quoting it, whether or
// not url.Parse accepts it.
func FuzzURL(f *testing.F) {
	f.Add("https", "admin", "PW", "127.0.0.1:6443", "/", "token", "QS")
	f.Add("http", "u", "p@ss", "h:port", "/r.git", "private_token", "SECRET")
	f.Add("ssh", "git", "pw", "h", "/r", "k", "v")
	f.Add("https", "", "pw", "[::1]:1", "", "", "v")
	f.Add("https", "u", "%zz", "h", "/\x00", "a", "b%")
	f.Fuzz(func(t *testing.T, scheme, user, password, host, path, key, value string) {
		// A query value or key with & or = in it is several, and a password
		// with an @ two parts (TestURL has those): real ones are
		// escaped. A host is what a host can be: url.Parse escapes the rest.
		if !validScheme(scheme) || strings.ContainsAny(user+password+host+key+value, "/?#\\") || strings.ContainsAny(path, "?#") ||
			strings.ContainsAny(user+password+host+path+key+value, " \t\n\r\v\f\"'`<>\\") || strings.Contains(user+password+host, "@") ||
			strings.ContainsAny(key+value, "&=") || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-[]") != "" {
			t.Skip()
		}
		raw := scheme + "://" + user + ":" + password + "@" + host + path + "?" + key + "=" + value
		secrets := []string{password, value}
		if !sshScheme(scheme) {
			secrets = append(secrets, user)
		}
		// What is shown whatever the secrets are: a secret found there
		// proves nothing.
		shownUser := Mask
		if sshScheme(scheme) {
			shownUser = user + ":" + Mask
		}
		skeleton := scheme + "://" + shownUser + "@" + host + path + "?" + key + "=" + Mask + " " + url.PathEscape(path) + " " + (&url.URL{Path: path}).String()
		forms := []struct {
			out, around string
		}{
			{URL(raw), ""},
			{Text(`Get "` + raw + `": EOF`), `Get "": EOF`},
			{Text("at " + raw + " now"), "at  now"},
		}
		for _, f := range forms {
			shown := skeleton + " " + strings.ToLower(skeleton) + " " + f.around
			for _, s := range secrets {
				if s == "" || strings.Contains(shown, s) || strings.Contains(Mask, s) {
					continue
				}
				if strings.Contains(f.out, s) {
					t.Fatalf("%q shows %q of %q", f.out, s, raw)
				}
			}
		}
	})
}

// TestURLIgnoresSecrets: what URL shows of a parsable URL does not depend
// on its secrets.
func TestURLIgnoresSecrets(t *testing.T) {
	build := func(user, password, value string) string {
		u := url.URL{Scheme: "https", User: url.UserPassword(user, password), Host: "git.example:8443", Path: "/g/r.git",
			RawQuery: url.Values{"private_token": {value}, "ref": {value}}.Encode(), Fragment: value}
		return u.String()
	}
	want := URL(build("a", "b", "c"))
	for _, s := range []string{"p@ss:word", "%41", "ünï", "x=y&z", "#?/", strings.Repeat("s", 300)} {
		if got := URL(build(s, s, s)); got != want {
			t.Errorf("with secrets %q: %q, want %q", s, got, want)
		}
	}
}
