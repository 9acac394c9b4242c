package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// httpDialer opens sessions with go-git's http(s) client.
type httpDialer struct {
	client transport.Transport
	ep     *transport.Endpoint
	auth   func() (transport.AuthMethod, error) // called before every session
}

// newHTTP checks the options for an http(s) URL. The password file is read
// now, to check it, and again before every session, so that a rotated token
// is picked up.
func newHTTP(ep *transport.Endpoint, opts Options) (Transport, error) {
	switch {
	case ep.User != "" || ep.Password != "":
		// A token is often passed as the user name, and go-git's errors
		// quote the URL of the request that failed.
		return nil, errors.New("credentials in the url would show in logs and errors: pass the user with --git-username and the password or token in a file with --git-password-path")
	case opts.SSHKeyPath != "" || opts.KnownHostsPath != "" || opts.InsecureIgnoreHostKey:
		return nil, errors.New("ssh key and known_hosts options are for ssh urls")
	case opts.Username != "" && opts.PasswordPath == "":
		return nil, errors.New("a username needs a password file")
	case opts.CAFile != "" && ep.Protocol != "https":
		return nil, errors.New("a CA file is for https urls")
	}
	hc, err := httpClient(opts.CAFile)
	if err != nil {
		return nil, err
	}
	d := &httpDialer{client: githttp.NewClient(hc), ep: ep, auth: noAuth}
	if opts.PasswordPath != "" {
		d.auth = basicAuth(opts.Username, opts.PasswordPath)
		if _, err := d.auth(); err != nil {
			return nil, err
		}
	}
	return &wire{dial: d, timeout: opts.Timeout, log: opts.Logger, options: opts.PushOptions}, nil
}

func noAuth() (transport.AuthMethod, error) { return nil, nil }

// httpClient is the HTTP client of go-git's transport: the default one, or
// one trusting only the certificate authorities in caFile.
func httpClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// basicAuth returns the user and the password read from passwordPath.
func basicAuth(user, passwordPath string) func() (transport.AuthMethod, error) {
	if user == "" {
		user = "git" // token authentication ignores the name but needs one
	}
	return func() (transport.AuthMethod, error) {
		b, err := os.ReadFile(passwordPath)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return nil, fmt.Errorf("password file %s is empty", passwordPath)
		}
		return &githttp.BasicAuth{Username: user, Password: pw}, nil
	}
}

// uploadPack and receivePack make no request: a session connects with its
// first, which the context given to that call bounds.
func (d *httpDialer) uploadPack(context.Context) (transport.UploadPackSession, error) {
	auth, err := d.auth()
	if err != nil {
		return nil, err
	}
	return d.client.NewUploadPackSession(d.ep, auth)
}

func (d *httpDialer) receivePack(context.Context) (transport.ReceivePackSession, error) {
	auth, err := d.auth()
	if err != nil {
		return nil, err
	}
	return d.client.NewReceivePackSession(d.ep, auth)
}
