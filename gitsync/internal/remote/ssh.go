package remote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// newSSH checks the options for an ssh URL and reads the key and the
// known_hosts file.
func newSSH(ep *transport.Endpoint, opts Options) (Transport, error) {
	switch {
	case ep.Password != "" || strings.Contains(ep.User, ":"):
		return nil, errors.New("an ssh url must not hold a password: ssh authenticates with the key file")
	case opts.PasswordPath != "":
		return nil, errors.New("a password file is for http(s) urls; ssh takes a key file")
	case opts.SSHKeyPath == "":
		return nil, errors.New("an ssh url needs an ssh key file")
	case opts.KnownHostsPath == "" && !opts.InsecureIgnoreHostKey:
		return nil, errors.New("an ssh url needs a known_hosts file to verify the host key (or an explicit choice to ignore it)")
	}
	user := cmp.Or(ep.User, opts.Username, "git")
	keys, err := gitssh.NewPublicKeysFromFile(user, opts.SSHKeyPath, "")
	if err != nil {
		return nil, fmt.Errorf("read ssh key %s: %w", opts.SSHKeyPath, err)
	}
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	// Endpoint keeps an IPv6 host in brackets.
	addr := net.JoinHostPort(strings.Trim(ep.Host, "[]"), strconv.Itoa(port))
	if err := checkHostKey(keys, addr, opts); err != nil {
		return nil, err
	}
	config, err := keys.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("ssh client config: %w", err)
	}
	d := &sshDialer{addr: addr, path: ep.Path, config: config}
	return &wire{dial: d, timeout: opts.Timeout, log: opts.Logger, options: opts.PushOptions}, nil
}

// checkHostKey sets how keys checks the host key of addr: against the
// known_hosts file, or not at all if so chosen.
func checkHostKey(keys *gitssh.PublicKeys, addr string, opts Options) error {
	if opts.InsecureIgnoreHostKey {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey()
		return nil
	}
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
	return nil
}

// sshDialer opens git sessions over ssh. go-git's ssh transport takes no
// context and bounds only the TCP dial: a server that accepts the
// connection and then stalls, in the ssh handshake, the session or the
// exec request, would block a sync forever. sshDialer dials with the
// session's context and closes the connection as soon as the context is
// done, whatever step the session is in; every read and write on it then
// fails at once. Unlike go-git's, it reads no ~/.ssh/config.
type sshDialer struct {
	addr   string // host:port, as known_hosts lists it
	path   string // of the repository on the server
	config *ssh.ClientConfig
}

func (d *sshDialer) uploadPack(ctx context.Context) (transport.UploadPackSession, error) {
	s, err := d.open(ctx, transport.UploadPackServiceName)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d *sshDialer) receivePack(ctx context.Context) (transport.ReceivePackSession, error) {
	s, err := d.open(ctx, transport.ReceivePackServiceName)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// open connects and runs service (git-upload-pack or git-receive-pack) on
// the repository. The session holds the connection until it is closed or
// ctx is done.
func (d *sshDialer) open(ctx context.Context, service string) (*sshSession, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	s, err := d.start(conn, service)
	if err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	s.stop = stop
	return s, nil
}

func (d *sshDialer) start(conn net.Conn, service string) (*sshSession, error) {
	c, chans, reqs, err := ssh.NewClientConn(conn, d.addr, d.config)
	if err != nil {
		return nil, err
	}
	client := ssh.NewClient(c, chans, reqs)
	s := &sshSession{client: client, receive: service == transport.ReceivePackServiceName}
	if err := s.start(service + " " + shellQuote(d.path)); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}

// sshSession is a transport.UploadPackSession and ReceivePackSession over
// one ssh session, speaking git's protocol version 0 as go-git's own
// transports do.
type sshSession struct {
	client  *ssh.Client
	sess    *ssh.Session
	stdin   io.WriteCloser
	stdout  io.Reader
	stderr  remoteMessages // what the command printed on standard error
	stop    func() bool    // ends the watch on the context
	receive bool           // git-receive-pack rather than git-upload-pack
	advRefs *packp.AdvRefs
	spoke   bool // whether a request was sent
}

func (s *sshSession) start(cmd string) error {
	var err error
	if s.sess, err = s.client.NewSession(); err != nil {
		return err
	}
	s.sess.Stderr = &s.stderr
	if s.stdin, err = s.sess.StdinPipe(); err != nil {
		return err
	}
	if s.stdout, err = s.sess.StdoutPipe(); err != nil {
		return err
	}
	return s.sess.Start(cmd)
}

func (s *sshSession) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

// AdvertisedReferencesContext reads the references the command lists
// first. The context given to open bounds it, not ctx.
func (s *sshSession) AdvertisedReferencesContext(context.Context) (*packp.AdvRefs, error) {
	if s.advRefs != nil {
		return s.advRefs, nil
	}
	ar := packp.NewAdvRefs()
	switch err := ar.Decode(s.stdout); {
	case errors.Is(err, packp.ErrEmptyAdvRefs): // an empty repository
	case errors.Is(err, packp.ErrEmptyInput): // the command failed before it spoke
		return nil, s.exitError()
	case err != nil:
		return nil, err
	}
	if !s.receive && ar.IsEmpty() {
		return nil, transport.ErrEmptyRemoteRepository
	}
	transport.FilterUnsupportedCapabilities(ar.Capabilities)
	s.advRefs = ar
	return ar, nil
}

func (s *sshSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.spoke = true
	if err := req.UploadRequest.Encode(s.stdin); err != nil {
		return nil, fmt.Errorf("send wants: %w", err)
	}
	if err := req.UploadHaves.Encode(s.stdin, true); err != nil {
		return nil, fmt.Errorf("send haves: %w", err)
	}
	if err := pktline.NewEncoder(s.stdin).Encodef("done\n"); err != nil {
		return nil, fmt.Errorf("send done: %w", err)
	}
	if err := s.stdin.Close(); err != nil {
		return nil, err
	}
	resp := packp.NewUploadPackResponse(req)
	if err := resp.Decode(io.NopCloser(s.stdout)); err != nil {
		return nil, fmt.Errorf("read upload-pack response: %w%s", err, s.stderr.suffix())
	}
	return resp, nil
}

func (s *sshSession) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.spoke = true
	if err := req.Encode(s.stdin); err != nil {
		return nil, fmt.Errorf("send update: %w%s", err, s.stderr.suffix())
	}
	if err := s.stdin.Close(); err != nil {
		return nil, err
	}
	if !req.Capabilities.Supports(capability.ReportStatus) {
		return nil, s.wait()
	}
	r := s.stdout
	var d *sideband.Demuxer
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		d = sideband.NewDemuxer(sideband.Sideband64k, r)
	case req.Capabilities.Supports(capability.Sideband):
		d = sideband.NewDemuxer(sideband.Sideband, r)
	}
	if d != nil {
		d.Progress = req.Progress
		r = d
	}
	report := packp.NewReportStatus()
	if err := report.Decode(r); err != nil {
		return nil, fmt.Errorf("read push report: %w%s", err, s.stderr.suffix())
	}
	if err := report.Error(); err != nil {
		return report, err
	}
	return report, s.wait()
}

// wait waits for the command to exit and returns why it failed.
func (s *sshSession) wait() error {
	if err := s.sess.Wait(); err != nil {
		return fmt.Errorf("%w%s", err, s.stderr.suffix())
	}
	return nil
}

// exitError returns why the command ended without a word on its standard
// output: what it printed on standard error, such as git's "does not
// appear to be a git repository".
func (s *sshSession) exitError() error {
	err := s.sess.Wait()
	if msg := s.stderr.String(); msg != "" {
		return fmt.Errorf("remote: %s", msg)
	}
	if err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// Close ends the session. One that sent no request first tells the
// command that it wants nothing, as git does, so that the server logs no
// hang-up.
func (s *sshSession) Close() error {
	if !s.spoke {
		_, _ = s.stdin.Write(pktline.FlushPkt)
	}
	s.stop()
	err := s.client.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// shellQuote quotes s for the remote shell as git does (sq_quote_buf):
// in single quotes, with ' and ! closed, escaped and reopened.
func shellQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := range len(s) {
		if c := s[i]; c == '\'' || c == '!' {
			b.WriteString(`'\`)
			b.WriteByte(c)
			b.WriteByte('\'')
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}
