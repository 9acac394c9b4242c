package remote

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// sshDialerOf returns the dialer behind a Transport New made for an ssh
// URL.
func sshDialerOf(t *testing.T, tr Transport) *sshDialer {
	t.Helper()
	return tr.(redacting).t.(*wire).dial.(*sshDialer)
}

// TestSSHSession: the ssh sessions speak git's protocol as go-git's
// sessions do, for requests the wire transport does not make: git's
// refusal of a want it does not advertise comes back with its words, and a
// push without a status report works, or without a side band.
func TestSSHSession(t *testing.T) {
	t.Parallel()
	s := serve(t, "ssh")
	first, head := seed(t, s)
	d := sshDialerOf(t, s.transport(t))

	up, err := d.uploadPack(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ar, err := up.AdvertisedReferences()
	if err != nil || ar.References["refs/heads/main"] != head {
		t.Fatalf("AdvertisedReferences = %v, %v; want main at %s", ar, err, head)
	}
	if again, err := up.AdvertisedReferencesContext(t.Context()); err != nil || again != ar {
		t.Errorf("AdvertisedReferences a second time = %p, %v; want the first %p", again, err, ar)
	}
	if _, err := up.UploadPack(t.Context(), packp.NewUploadPackRequest()); err == nil {
		t.Error("UploadPack of a request without wants: no error")
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	unknown := plumbing.NewHash(strings.Repeat("1", 40))
	req.Wants = []plumbing.Hash{unknown}
	if _, err := up.UploadPack(t.Context(), req); err == nil || !strings.Contains(err.Error(), "read upload-pack response: ") ||
		!strings.Contains(err.Error(), "not our ref "+unknown.String()) {
		t.Errorf("UploadPack of an object the server does not advertise: error = %v, want git's words", err)
	}
	if err := up.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	for _, tt := range []struct {
		name string
		caps []capability.Capability
		to   plumbing.Hash
	}{
		{name: "no status report", to: first},
		{name: "status report", caps: []capability.Capability{capability.ReportStatus}, to: head},
	} {
		rp, err := d.receivePack(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		old := plumbing.NewHash(s.head(t, "main"))
		update := packp.NewReferenceUpdateRequest()
		for _, c := range tt.caps {
			if err := update.Capabilities.Set(c); err != nil {
				t.Fatal(err)
			}
		}
		update.Commands = []*packp.Command{{Name: mainRef, Old: old, New: tt.to}}
		update.Packfile = io.NopCloser(emptyPack(t))
		report, err := rp.ReceivePack(t.Context(), update)
		if err != nil {
			t.Errorf("%s: ReceivePack: %v", tt.name, err)
		}
		if (report != nil) != (len(tt.caps) > 0) || report != nil && report.Error() != nil {
			t.Errorf("%s: report = %+v, want one only when asked for, and ok", tt.name, report)
		}
		if got := s.head(t, "main"); got != tt.to.String() {
			t.Errorf("%s: main = %s, want %s", tt.name, got, tt.to)
		}
		if err := rp.Close(); err != nil {
			t.Errorf("%s: Close: %v", tt.name, err)
		}
	}
}

// emptyPack is a pack of no objects, as git sends with an update whose
// objects the server has.
func emptyPack(t *testing.T) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	var enc wire
	if err := enc.packer.WritePack(&b, &pack.Objects{}, nil); err != nil {
		t.Fatal(err)
	}
	return &b
}

// TestFetchFromDamagedRepository: a server repository missing an object
// of the branch fails the fetch, with what git said on the side band.
func TestFetchFromDamagedRepository(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			_, head := seed(t, s)
			blob := blobHash("2").String() // main's one file
			if err := os.Remove(filepath.Join(s.bare, "objects", blob[:2], blob[2:])); err != nil {
				t.Fatalf("remove the loose blob git wrote: %v", err)
			}
			h, sto, err := s.transport(t).FetchHead(t.Context(), mainRef, plumbing.ZeroHash)
			if err == nil || !strings.Contains(err.Error(), "read pack: ") || !strings.Contains(err.Error(), "possible repository corruption on the remote side") {
				t.Errorf("FetchHead = %s, %v, %v; want git's words", h, sto, err)
			}
			if h, _, err := s.transport(t).FetchHead(t.Context(), mainRef, head); err != nil || h != head {
				t.Errorf("FetchHead of the head the caller has = %s, %v; want %s without a fetch", h, err, head)
			}
		})
	}
}

// TestSSHAddress: the address dialled, and looked up in known_hosts, is
// host:port, port 22 by default, an IPv6 host without its brackets.
func TestSSHAddress(t *testing.T) {
	t.Parallel()
	key, _ := gittest.NewClientKey(t)
	for url, want := range map[string]string{
		"git@example.com:r.git":        "example.com:22",
		"ssh://git@example.com/r.git":  "example.com:22",
		"ssh://example.com:2222/r.git": "example.com:2222",
		"ssh://git@[::1]:2222/r.git":   "[::1]:2222",
		"ssh://git@[::1]/r.git":        "[::1]:22",
	} {
		tr, err := New(Options{URL: url, SSHKeyPath: key, InsecureIgnoreHostKey: true, Logger: discardLogger()})
		if err != nil {
			t.Fatalf("New(%s): %v", url, err)
		}
		if got := sshDialerOf(t, tr).addr; got != want {
			t.Errorf("New(%s) dials %s, want %s", url, got, want)
		}
	}
}

// TestShellQuote: the repository path reaches the server's shell as it
// is, whatever it holds.
func TestShellQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"/srv/git/r.git", "it's here", "wow!", `$HOME "x" \n`, "a'b'!c!", "`id`", "semi;colon && |pipe", ""} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh read %s as %q (%v), want %q", shellQuote(s), out, err, s)
		}
	}
}

// TestRemoteMessages: what a remote says is kept up to 4 KiB, on one line.
func TestRemoteMessages(t *testing.T) {
	t.Parallel()
	var m remoteMessages
	if m.String() != "" || m.suffix() != "" {
		t.Errorf("nothing said: String %q, suffix %q", m.String(), m.suffix())
	}
	_, _ = io.WriteString(&m, "remote: first\r\n\n  second  \rthird\n")
	if got, want := m.suffix(), " (remote: remote: first; second; third)"; got != want {
		t.Errorf("suffix = %q, want %q", got, want)
	}
	n, err := m.Write(bytes.Repeat([]byte("x"), 8<<10))
	if n != 8<<10 || err != nil {
		t.Errorf("Write = %d, %v; want all of it taken", n, err)
	}
	if len(m.buf) != maxRemoteMessages || !strings.HasSuffix(m.String(), "; "+strings.Repeat("x", maxRemoteMessages-len("remote: first\r\n\n  second  \rthird\n"))) {
		t.Errorf("kept %d bytes, want the first %d", len(m.buf), maxRemoteMessages)
	}
}

// TestRequests: what the transport asks of a server follows what it
// advertised; git itself advertises all of these, so only a request built
// here shows what other servers get.
func TestRequests(t *testing.T) {
	t.Parallel()
	caps := func(cs ...capability.Capability) *capability.List {
		l := capability.NewList()
		for _, c := range cs {
			_ = l.Set(c)
		}
		return l
	}
	head, have := plumbing.NewHash(strings.Repeat("a", 40)), plumbing.NewHash(strings.Repeat("b", 40))

	plain := uploadRequest(caps(capability.OFSDelta), head, have)
	if !plain.Depth.IsZero() || len(plain.Shallows) != 0 || plain.Capabilities.Supports(capability.Shallow) ||
		plain.Capabilities.Supports(capability.NoProgress) || len(plain.Haves) != 1 || plain.Haves[0] != have {
		t.Errorf("upload request to a server without shallow or no-progress = %+v, want the have alone", plain)
	}
	shallow := uploadRequest(caps(capability.Shallow, capability.NoProgress), head, plumbing.ZeroHash)
	if shallow.Depth != packp.DepthCommits(1) || len(shallow.Haves) != 0 || len(shallow.Shallows) != 0 || !shallow.Capabilities.Supports(capability.NoProgress) {
		t.Errorf("first upload request = %+v, want depth 1 and no haves", shallow)
	}

	w := &wire{}
	if _, err := w.updateRequest(caps(capability.ReportStatus), mainRef, head, plumbing.ZeroHash, nil); err == nil ||
		err.Error() != "delete main: the remote does not accept deleting references" {
		t.Errorf("deletion on a server without delete-refs: error = %v", err)
	}
	req, err := w.updateRequest(caps(capability.ReportStatus, capability.Sideband), mainRef, have, head, &bytes.Buffer{})
	if err != nil || !req.Capabilities.Supports(capability.Sideband) || req.Capabilities.Supports(capability.Quiet) {
		t.Errorf("update request to a server with side-band only = %v, %v; want side-band and no quiet", req, err)
	}
}

// TestDemux: a pack arrives on the side band the request asked for, or
// bare without one.
func TestDemux(t *testing.T) {
	t.Parallel()
	const data = "PACK..."
	for _, tt := range []struct {
		name string
		caps []capability.Capability
		band *sideband.Type
	}{
		{name: "side-band", caps: []capability.Capability{capability.Sideband}, band: new(sideband.Sideband)},
		{name: "side-band-64k", caps: []capability.Capability{capability.Sideband64k}, band: new(sideband.Sideband64k)},
		{name: "none"},
	} {
		l := capability.NewList()
		for _, c := range tt.caps {
			_ = l.Set(c)
		}
		var in bytes.Buffer
		if tt.band != nil {
			mux := sideband.NewMuxer(*tt.band, &in)
			if _, err := mux.Write([]byte(data)); err != nil {
				t.Fatal(err)
			}
			if err := pktline.NewEncoder(&in).Flush(); err != nil {
				t.Fatal(err)
			}
		} else {
			in.WriteString(data)
		}
		out, err := io.ReadAll(demux(l, &in))
		if err != nil || string(out) != data {
			t.Errorf("%s: read %q, %v; want %q", tt.name, out, err, data)
		}
	}
}
