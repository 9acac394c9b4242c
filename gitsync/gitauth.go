package gitsync

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	cryptossh "golang.org/x/crypto/ssh"
)

// newRemote checks that the authentication options fit the URL's transport
// and sets them up. It reads the SSH key and known_hosts once; the password
// file is read again before every session, so a rotated token is picked up.
func newRemote(opts RepoOptions) (*remote, error) {
	u := redact(opts.URL)
	ep, err := transport.NewEndpoint(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse git url %s: %w", u, err)
	}
	r := &remote{url: u, ep: ep, timeout: opts.Timeout, auth: noAuth}
	switch ep.Protocol {
	case "file":
		err = setLocal(r, opts)
	case "ssh":
		err = setSSH(r, opts)
	case "http", "https":
		err = setHTTP(r, opts)
	default:
		err = fmt.Errorf("unsupported protocol %q: use ssh, https, http, file or a local path", ep.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("git url %s: %w", u, err)
	}
	return r, nil
}

func noAuth() (transport.AuthMethod, error) { return nil, nil }

func setLocal(r *remote, opts RepoOptions) error {
	if opts.SSHKeyPath != "" || opts.KnownHostsPath != "" || opts.Username != "" || opts.PasswordPath != "" {
		return errors.New("a local repository takes no ssh key, known_hosts, username or password")
	}
	// go-git's server would take a non-bare repository's work tree for its
	// git directory; pushing to a checked-out branch is wrong anyway.
	if _, err := os.Stat(filepath.Join(r.ep.Path, "config")); err != nil {
		if _, err := os.Stat(filepath.Join(r.ep.Path, ".git")); err == nil {
			return errors.New("a local repository must be bare (git init --bare)")
		}
	}
	r.tr = newLocalTransport()
	return nil
}

func setSSH(r *remote, opts RepoOptions) error {
	switch {
	case opts.PasswordPath != "":
		return errors.New("a password file is for http(s) urls; ssh takes a key file")
	case opts.SSHKeyPath == "":
		return errors.New("an ssh url needs an ssh key file")
	case opts.KnownHostsPath == "" && !opts.InsecureIgnoreHostKey:
		return errors.New("an ssh url needs a known_hosts file to verify the host key (or an explicit choice to ignore it)")
	}
	user := r.ep.User
	if user == "" {
		user = opts.Username
	}
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, opts.SSHKeyPath, "")
	if err != nil {
		return fmt.Errorf("read ssh key %s: %w", opts.SSHKeyPath, err)
	}
	if opts.InsecureIgnoreHostKey {
		keys.HostKeyCallback = cryptossh.InsecureIgnoreHostKey()
	} else {
		// go-git would fall back to ~/.ssh/known_hosts for a missing file.
		if _, err := os.Stat(opts.KnownHostsPath); err != nil {
			return fmt.Errorf("read known_hosts: %w", err)
		}
		// A wrapper of golang.org/x/crypto/ssh/knownhosts that also offers the
		// server only the host key types known for it, so that a server with
		// several keys does not present one that is not listed.
		db, err := gitssh.NewKnownHostsDb(opts.KnownHostsPath)
		if err != nil {
			return fmt.Errorf("read known_hosts %s: %w", opts.KnownHostsPath, err)
		}
		port := r.ep.Port
		if port <= 0 {
			port = gitssh.DefaultPort
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(r.ep.Host, strconv.Itoa(port)))
	}
	r.tr = gitssh.NewClient(nil)
	auth := sshAuth{PublicKeys: keys, timeout: opts.Timeout}
	r.auth = func() (transport.AuthMethod, error) { return auth, nil }
	return nil
}

// sshAuth bounds the connection setup, which go-git runs without a context.
// (go-git's NewClient takes a config too, but it replaces every field of
// the auth method's config with it, zero or not.)
type sshAuth struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

func (a sshAuth) ClientConfig() (*cryptossh.ClientConfig, error) {
	c, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.Timeout = a.timeout
	return c, nil
}

func setHTTP(r *remote, opts RepoOptions) error {
	switch {
	case opts.SSHKeyPath != "" || opts.KnownHostsPath != "" || opts.InsecureIgnoreHostKey:
		return errors.New("ssh key and known_hosts options are for ssh urls")
	case opts.Username != "" && opts.PasswordPath == "":
		return errors.New("a username needs a password file")
	}
	r.tr = githttp.NewClient(nil)
	if opts.PasswordPath == "" {
		return nil
	}
	user := opts.Username
	if user == "" {
		user = "git" // token authentication ignores the name but needs one
	}
	r.auth = func() (transport.AuthMethod, error) {
		b, err := os.ReadFile(opts.PasswordPath)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return nil, fmt.Errorf("password file %s is empty", opts.PasswordPath)
		}
		return &githttp.BasicAuth{Username: user, Password: pw}, nil
	}
	if _, err := r.auth(); err != nil {
		return err
	}
	return nil
}

// redact hides a password embedded in a URL, for errors and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil && strings.Contains(raw, "://") {
		return "(unparsable url)"
	}
	if err != nil || u.User == nil {
		return raw // scp-like and local paths hold no password
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	return u.Redacted()
}
