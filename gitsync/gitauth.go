package gitsync

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	cryptossh "golang.org/x/crypto/ssh"
)

// newRemote checks that the authentication options fit the URL's transport
// and sets them up. It reads the SSH key and known_hosts once; the password
// file is read again before every session, so a rotated token is picked up.
func newRemote(opts RepoOptions) (*remote, error) {
	ep, err := transport.NewEndpoint(opts.URL)
	if err != nil {
		u := redact(opts.URL, "")
		return nil, fmt.Errorf("parse git url %s: %w", u, withoutURL(err, opts.URL, u))
	}
	u := redact(opts.URL, ep.Protocol)
	r := &remote{url: u, ep: ep, timeout: opts.Timeout, auth: noAuth, log: opts.Logger}
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
	// A non-bare repository's work tree is no git directory; pushing to a
	// checked-out branch is wrong anyway.
	if _, err := os.Stat(filepath.Join(r.ep.Path, "config")); err != nil {
		if _, err := os.Stat(filepath.Join(r.ep.Path, ".git")); err == nil {
			return errors.New("a local repository must be bare (git init --bare)")
		}
	}
	r.local = newLocalStore(r.ep.Path)
	return nil
}

func setSSH(r *remote, opts RepoOptions) error {
	switch {
	case r.ep.Password != "" || strings.Contains(r.ep.User, ":"):
		return errors.New("an ssh url must not hold a password: ssh authenticates with the key file")
	case opts.PasswordPath != "":
		return errors.New("a password file is for http(s) urls; ssh takes a key file")
	case opts.SSHKeyPath == "":
		return errors.New("an ssh url needs an ssh key file")
	case opts.KnownHostsPath == "" && !opts.InsecureIgnoreHostKey:
		return errors.New("an ssh url needs a known_hosts file to verify the host key (or an explicit choice to ignore it)")
	}
	user := cmp.Or(r.ep.User, opts.Username, "git")
	keys, err := gitssh.NewPublicKeysFromFile(user, opts.SSHKeyPath, "")
	if err != nil {
		return fmt.Errorf("read ssh key %s: %w", opts.SSHKeyPath, err)
	}
	port := r.ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	// Endpoint keeps an IPv6 host in brackets.
	addr := net.JoinHostPort(strings.Trim(r.ep.Host, "[]"), strconv.Itoa(port))
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
		keys.HostKeyCallback = db.HostKeyCallback()
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(addr)
	}
	config, err := keys.ClientConfig()
	if err != nil {
		return fmt.Errorf("ssh client config: %w", err)
	}
	r.ssh = &sshDialer{addr: addr, path: r.ep.Path, config: config}
	return nil
}

func setHTTP(r *remote, opts RepoOptions) error {
	switch {
	case r.ep.User != "" || r.ep.Password != "":
		// A token is often passed as the user name, and go-git's errors
		// quote the URL of the request that failed.
		return errors.New("credentials in the url would show in logs and errors: pass the user with --git-username and the password or token in a file with --git-password-path")
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

// redact returns raw for messages with its secrets masked: the whole user
// information of a URL, as a token is often passed as the user name,
// except an ssh user name, which is no secret. Scp-like URLs (user@host:path)
// and local paths keep their user name too.
func redact(raw, protocol string) string {
	if !strings.Contains(raw, "://") {
		user, rest, ok := strings.Cut(raw, "@")
		if name, _, pw := strings.Cut(user, ":"); ok && pw && !strings.Contains(user, "/") {
			return name + ":xxxxx@" + rest
		}
		return raw
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "(unparsable url)"
	case u.User == nil:
		return raw
	case protocol == "ssh":
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	default:
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// withoutURL returns err with raw, which it may quote, replaced by its
// redacted form u.
func withoutURL(err error, raw, u string) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if msg := err.Error(); strings.Contains(msg, raw) {
		return errors.New(strings.ReplaceAll(msg, raw, u))
	}
	return err
}
