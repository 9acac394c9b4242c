package remote

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestHTTPCredentials: the password file is read before every session, so
// a rotated token is picked up and a broken file is reported; a wrong or
// missing password is the server's authentication error.
func TestHTTPCredentials(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"http", "https"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			gittest.HumanPush(t, s.bare, func(string) {}, "seed")
			tr := s.transport(t)
			if empty, err := tr.Empty(t.Context()); err != nil || empty {
				t.Fatalf("Empty = %v, %v; want false", empty, err)
			}
			s.http.SetPassword("rotated")
			if _, err := tr.Empty(t.Context()); !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Errorf("Empty with the old password: error = %v, want authentication required", err)
			}
			writeFile(t, s.opts.PasswordPath, "rotated")
			if _, err := tr.Empty(t.Context()); err != nil {
				t.Errorf("Empty once the file holds the new password: %v", err)
			}
			writeFile(t, s.opts.PasswordPath, " \n")
			if _, err := tr.Empty(t.Context()); err == nil || !strings.Contains(err.Error(), "password file "+s.opts.PasswordPath+" is empty") {
				t.Errorf("Empty with an empty password file: error = %v", err)
			}
			if err := os.Remove(s.opts.PasswordPath); err != nil {
				t.Fatal(err)
			}
			if _, _, err := tr.FetchHead(t.Context(), mainRef, [20]byte{}); err == nil || !strings.Contains(err.Error(), "read password file") {
				t.Errorf("FetchHead without the password file: error = %v", err)
			}
			c, objs := commit(t, [20]byte{}, map[string]string{"a": "1"}, "c")
			if err := tr.Push(t.Context(), mainRef, [20]byte{}, c, objs); err == nil || !strings.Contains(err.Error(), "read password file") {
				t.Errorf("Push without the password file: error = %v", err)
			}

			// No credentials at all.
			anon := s.transport(t, func(o *Options) { o.Username, o.PasswordPath = "", "" })
			if _, err := anon.Empty(t.Context()); !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Errorf("Empty without credentials: error = %v, want authentication required", err)
			}
		})
	}
}

// TestHTTPSCertificate: the server's certificate is checked against the
// CA file, or the system's authorities without one.
func TestHTTPSCertificate(t *testing.T) {
	t.Parallel()
	s := serve(t, "https")
	if _, err := s.transport(t, func(o *Options) { o.CAFile = "" }).Empty(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("Empty without the CA file: error = %v, want the certificate refused", err)
	}
	_, otherCA := gittest.StartHTTPS(t, t.TempDir(), "u", "p")
	if _, err := s.transport(t, func(o *Options) { o.CAFile = otherCA }).Empty(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("Empty with another CA: error = %v, want the certificate refused", err)
	}
}

// TestSSHHostAndClientKeys: the host key must be the one known_hosts lists
// for the address, unless ignoring it was chosen (with a warning); the
// server must take the client key.
func TestSSHHostAndClientKeys(t *testing.T) {
	t.Parallel()
	s := serve(t, "ssh")
	gittest.HumanPush(t, s.bare, func(string) {}, "seed")
	addr := strings.TrimPrefix(s.opts.URL, "ssh://git@")
	addr = addr[:strings.Index(addr, "/")]
	_, otherKey := gittest.NewClientKey(t)
	otherClient, _ := gittest.NewClientKey(t)
	for _, tt := range []struct {
		name string
		mod  func(*Options)
		want string // "" for success
	}{
		{name: "known host", mod: func(*Options) {}},
		{name: "host key mismatch", mod: func(o *Options) { o.KnownHostsPath = gittest.KnownHostsFile(t, addr, otherKey) }, want: "key mismatch"},
		{name: "unknown host", mod: func(o *Options) { o.KnownHostsPath = gittest.KnownHostsFile(t, "127.0.0.1:1", otherKey) }, want: "key is unknown"},
		{name: "host key ignored", mod: func(o *Options) { o.KnownHostsPath, o.InsecureIgnoreHostKey = "", true }},
		{name: "client key refused", mod: func(o *Options) { o.SSHKeyPath = otherClient }, want: "unable to authenticate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := s.transport(t, tt.mod)
			empty, err := tr.Empty(t.Context())
			if tt.want == "" {
				if err != nil || empty {
					t.Errorf("Empty = %v, %v; want false", empty, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Empty error = %v, want %q", err, tt.want)
			}
		})
	}
	if !strings.Contains(s.logs.String(), `level=WARN msg="the ssh host key is not verified"`) {
		t.Errorf("ignoring the host key was not warned about:\n%s", s.logs)
	}
}

// TestSSHRepositoryErrors: what the server's git says when it has no such
// repository, a server that refuses the command, and one that is not
// there, come back as errors.
func TestSSHRepositoryErrors(t *testing.T) {
	t.Parallel()
	s := serve(t, "ssh")
	root := filepath.Dir(s.bare)
	missing := s.transport(t, func(o *Options) { o.URL = strings.TrimSuffix(o.URL, s.bare) + root + "/missing.git" })
	_, _, err := missing.FetchHead(t.Context(), mainRef, [20]byte{})
	if err == nil || !strings.Contains(err.Error(), "remote: fatal: '"+root+"/missing.git' does not appear to be a git repository") {
		t.Errorf("FetchHead of a missing repository: error = %v, want git's words", err)
	}
	c, objs := commit(t, [20]byte{}, map[string]string{"a": "1"}, "c")
	if err := missing.Push(t.Context(), mainRef, [20]byte{}, c, objs); err == nil || !strings.Contains(err.Error(), "does not appear to be a git repository") {
		t.Errorf("Push to a missing repository: error = %v, want git's words", err)
	}
	// gittest's server runs git only below its root.
	outside := s.transport(t, func(o *Options) { o.URL = strings.TrimSuffix(o.URL, s.bare) + "/etc" })
	if _, err := outside.Empty(t.Context()); err == nil || !strings.Contains(err.Error(), "ssh: command git-upload-pack '/etc' failed") {
		t.Errorf("Empty of a repository the server refuses: error = %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	closed := s.transport(t, func(o *Options) {
		o.URL = "ssh://git@" + addr + "/r.git"
		o.KnownHostsPath, o.InsecureIgnoreHostKey = "", true
	})
	if _, err := closed.Empty(t.Context()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Empty of a closed port: error = %v", err)
	}
}

// TestNewOptions: New refuses options that do not fit the URL's transport,
// and files it cannot read, before any network; no error shows a secret
// of the URL.
func TestNewOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, pub := gittest.NewClientKey(t)
	knownHosts := gittest.KnownHostsFile(t, "127.0.0.1:22", pub)
	pw := filepath.Join(dir, "pw")
	writeFile(t, pw, "p\n")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "\n")
	notKey := filepath.Join(dir, "not-a-key")
	writeFile(t, notKey, "not a key\n")
	badHosts := filepath.Join(dir, "bad_known_hosts")
	writeFile(t, badHosts, "127.0.0.1 ssh-ed25519 !!!\n")
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{name: "unknown scheme", opts: Options{URL: "ftp://host/r.git"}, want: `git url ftp://host/r.git: unsupported protocol "ftp"`},
		{name: "not a url", opts: Options{URL: "/x://host/r.git?t=SECRET"}, want: "parse git url /x://host/r.git?t=xxxxx: permanent client error: invalid endpoint: /x://host/r.git?t=xxxxx"},
		{name: "unparsable", opts: Options{URL: "https://user:SECRET@host:port/r.git"}, want: "parse git url https://xxxxx@host:port/r.git: "},
		{name: "http credentials in url", opts: Options{URL: "https://user:SECRET@host/r.git"}, want: "git url https://xxxxx@host/r.git: credentials in the url would show in logs and errors"},
		{name: "http token as user", opts: Options{URL: "https://SECRET@host/r.git"}, want: "credentials in the url"},
		{name: "http with ssh key", opts: Options{URL: "https://host/r.git", SSHKeyPath: key}, want: "ssh key and known_hosts options are for ssh urls"},
		{name: "http ignoring host keys", opts: Options{URL: "https://host/r.git", InsecureIgnoreHostKey: true}, want: "ssh key and known_hosts options are for ssh urls"},
		{name: "http user without password", opts: Options{URL: "https://host/r.git", Username: "u"}, want: "a username needs a password file"},
		{name: "http CA file", opts: Options{URL: "http://host/r.git", CAFile: pw}, want: "a CA file is for https urls"},
		{name: "https missing CA file", opts: Options{URL: "https://host/r.git", CAFile: filepath.Join(dir, "none")}, want: "read CA file"},
		{name: "https CA file without PEM", opts: Options{URL: "https://host/r.git", CAFile: pw}, want: "holds no PEM certificate"},
		{name: "http missing password file", opts: Options{URL: "https://host/r.git", PasswordPath: filepath.Join(dir, "none")}, want: "read password file"},
		{name: "http empty password file", opts: Options{URL: "https://host/r.git", PasswordPath: empty}, want: "is empty"},
		{name: "ssh password in url", opts: Options{URL: "ssh://git:SECRET@host/r.git", SSHKeyPath: key, KnownHostsPath: knownHosts}, want: "git url ssh://git:xxxxx@host/r.git: an ssh url must not hold a password"},
		{name: "ssh password file", opts: Options{URL: "ssh://git@host/r.git", SSHKeyPath: key, KnownHostsPath: knownHosts, PasswordPath: pw}, want: "a password file is for http(s) urls"},
		{name: "ssh without key", opts: Options{URL: "git@host:r.git", KnownHostsPath: knownHosts}, want: "an ssh url needs an ssh key file"},
		{name: "ssh without known_hosts", opts: Options{URL: "git@host:r.git", SSHKeyPath: key}, want: "needs a known_hosts file"},
		{name: "ssh missing known_hosts", opts: Options{URL: "git@host:r.git", SSHKeyPath: key, KnownHostsPath: filepath.Join(dir, "none")}, want: "read known_hosts"},
		{name: "ssh broken known_hosts", opts: Options{URL: "git@host:r.git", SSHKeyPath: key, KnownHostsPath: badHosts}, want: "read known_hosts " + badHosts},
		{name: "ssh missing key", opts: Options{URL: "git@host:r.git", SSHKeyPath: filepath.Join(dir, "none"), KnownHostsPath: knownHosts}, want: "read ssh key"},
		{name: "ssh key file not a key", opts: Options{URL: "git@host:r.git", SSHKeyPath: notKey, KnownHostsPath: knownHosts}, want: "read ssh key " + notKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want %q", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err)+logs.String(), "SECRET") {
				t.Errorf("the secret shows: %v\n%s", err, logs.String())
			}
		})
	}
}

// TestNewWarnings: settings that weaken security are warned about once, at
// New.
func TestNewWarnings(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "pw")
	writeFile(t, pw, "p")
	key, _ := gittest.NewClientKey(t)
	for _, tt := range []struct {
		opts Options
		want string // "" for no warning
	}{
		{opts: Options{URL: "http://host/r.git", PasswordPath: pw}, want: "the password is sent over plain http"},
		{opts: Options{URL: "https://host/r.git", PasswordPath: pw}},
		{opts: Options{URL: "http://host/r.git"}},
		{opts: Options{URL: "ssh://git@[::1]:2222/r.git", SSHKeyPath: key, InsecureIgnoreHostKey: true}, want: "the ssh host key is not verified"},
	} {
		var logs strings.Builder
		tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		if _, err := New(tt.opts); err != nil {
			t.Errorf("New(%s): %v", tt.opts.URL, err)
		}
		if got := logs.String(); tt.want == "" && got != "" || tt.want != "" && strings.Count(got, "level=WARN msg=\""+tt.want+"\"") != 1 {
			t.Errorf("New(%s) logged %q, want %q", tt.opts.URL, got, tt.want)
		}
	}
}
