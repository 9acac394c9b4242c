package gitsync

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// gpgHome is a GnuPG home of its own, under a short path: gpg-agent's
// socket lives there, and socket paths are short.
func gpgHome(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed (Debian: gnupg)")
	}
	dir, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+dir)
		_ = cmd.Run()
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func gpg(t *testing.T, home string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--quiet", "--pinentry-mode", "loopback"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// newGPGKey makes an OpenPGP key for uid in home, encrypted with passphrase
// (none when empty), and returns the file its armored private key is in.
func newGPGKey(t *testing.T, home, uid, algo, passphrase string) string {
	t.Helper()
	gpg(t, home, nil, "--passphrase", passphrase, "--quick-gen-key", uid, algo, "sign", "never")
	armored := gpg(t, home, nil, "--passphrase", passphrase, "--armor", "--export-secret-keys", uid)
	p := filepath.Join(t.TempDir(), "signing.asc")
	if err := os.WriteFile(p, armored, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// verifyCommit runs git verify-commit in bare with env and extra git
// configuration; it returns whether git accepted the signature, and what
// it said.
func gitVerifyCommit(t *testing.T, bare, commit string, env []string, config ...string) (bool, string) {
	t.Helper()
	var args []string
	for _, c := range config {
		args = append(args, "-c", c)
	}
	cmd := exec.Command("git", append(args, "-C", bare, "verify-commit", "-v", commit)...)
	cmd.Env = append(os.Environ(), append([]string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}, env...)...)
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignedCommitsGPG: commits signed with an OpenPGP key pass git
// verify-commit with gpg holding the public key; an unsigned commit and
// one signed by another key fail it.
func TestSignedCommitsGPG(t *testing.T) {
	t.Parallel()
	signer, stranger, verifier := gpgHome(t), gpgHome(t), gpgHome(t)
	ed := newGPGKey(t, signer, "ssm <ssm@localhost>", "ed25519", "")
	rsa := newGPGKey(t, signer, "ssm-rsa <ssm@localhost>", "rsa2048", "s3cret")
	other := newGPGKey(t, stranger, "ssm <ssm@localhost>", "ed25519", "")
	// The verifier knows the signer's public keys, not the stranger's.
	gpg(t, verifier, gpg(t, signer, nil, "--armor", "--export"), "--import")
	env := []string{"GNUPGHOME=" + verifier}
	bare := gittest.NewBare(t)

	signAndVerify(t, bare, []signCase{
		{"ed25519", ed, "", true},
		{"rsa with a passphrase", rsa, "s3cret\n", true},
		{"unsigned", "", "", false},
		{"another key", other, "", false},
	}, "Good signature", func(commit string) (bool, string) { return gitVerifyCommit(t, bare, commit, env) })
}

// signCase is a key ssm signs with, and whether git must accept the
// signature.
type signCase struct {
	name       string
	key        string
	passphrase string
	ok         bool
}

// signAndVerify commits into bare with each case's key and checks what
// verify (git verify-commit) says of the commit: good (and saying good)
// exactly when the case is ok.
func signAndVerify(t *testing.T, bare string, cases []signCase, good string, verify func(commit string) (bool, string)) {
	t.Helper()
	for _, tc := range cases {
		r := open(t, bare, tc.name, func(o *RepoOptions) {
			o.SigningKeyPath = tc.key
			if tc.passphrase != "" {
				o.SigningPassphrasePath = writeFile(t, "passphrase", tc.passphrase)
			}
		})
		res := mustSync(t, r, fileset.Files{"a.yaml": []byte(tc.name)})
		ok, said := verify(res.Commit)
		if ok != tc.ok {
			t.Errorf("%s: git verify-commit ok = %v, want %v:\n%s", tc.name, ok, tc.ok, said)
		}
		if tc.ok && !strings.Contains(said, good) {
			t.Errorf("%s: git verify-commit said:\n%s\nwant a good signature", tc.name, said)
		}
	}
	gittest.Fsck(t, bare)
}

func sshKeygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newSSHKey makes an SSH key of type typ, encrypted with passphrase (none
// when empty), and returns its private key file and public key.
func newSSHKey(t *testing.T, typ, passphrase string) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id")
	sshKeygen(t, "-q", "-t", typ, "-N", passphrase, "-C", "ssm", "-f", p)
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub))
}

// TestSignedCommitsSSH: commits signed with an SSH key pass git
// verify-commit with gpg.format=ssh and an allowed signers file listing
// the key; an unsigned commit and one signed by another key fail it.
func TestSignedCommitsSSH(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	ed, edPub := newSSHKey(t, "ed25519", "")
	rsa, rsaPub := newSSHKey(t, "rsa", "s3cret")
	ecdsa, ecdsaPub := newSSHKey(t, "ecdsa", "")
	other, _ := newSSHKey(t, "ed25519", "")
	allowed := writeFile(t, "allowed_signers", "ssm@localhost "+edPub+"\nssm@localhost "+rsaPub+"\nssm@localhost "+ecdsaPub+"\n")
	config := []string{"gpg.format=ssh", "gpg.ssh.allowedSignersFile=" + allowed}
	bare := gittest.NewBare(t)

	signAndVerify(t, bare, []signCase{
		{"ed25519", ed, "", true},
		{"rsa with a passphrase", rsa, "s3cret", true},
		{"ecdsa", ecdsa, "", true},
		{"unsigned", "", "", false},
		{"another key", other, "", false},
	}, `Good "git" signature for ssm@localhost`, func(commit string) (bool, string) {
		return gitVerifyCommit(t, bare, commit, nil, config...)
	})
}

// TestSigningKeyRefused: keys ssm cannot sign with are refused when the
// options are checked, before anything is pushed.
func TestSigningKeyRefused(t *testing.T) {
	t.Parallel()
	home := gpgHome(t)
	gpgKey := newGPGKey(t, home, "ssm <ssm@localhost>", "ed25519", "pw")
	public := writeFile(t, "public.asc", string(gpg(t, home, nil, "--armor", "--export")))
	sshKey, _ := newSSHKey(t, "ed25519", "pw")
	bare := gittest.NewBare(t)
	for _, tc := range []struct {
		name, key, passphrase, want string
	}{
		{"encrypted OpenPGP key without passphrase", gpgKey, "", "it is encrypted"},
		{"OpenPGP key with a wrong passphrase", gpgKey, "nope", "decrypt"},
		{"OpenPGP public key", public, "", "it is an OpenPGP public key"},
		{"encrypted SSH key without passphrase", sshKey, "", "it is encrypted"},
		{"SSH key with a wrong passphrase", sshKey, "nope", "decrypt"},
		{"not a key", writeFile(t, "k", "hello\n"), "", "want an armored OpenPGP private key"},
		{"missing", filepath.Join(t.TempDir(), "none"), "", "read signing key"},
	} {
		opts := RepoOptions{URL: bare, SigningKeyPath: tc.key}
		if tc.passphrase != "" {
			opts.SigningPassphrasePath = writeFile(t, "pw", tc.passphrase)
		}
		if err := opts.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate: error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestUnverifiableSignatureIsNotPushed: a signer whose signatures do not
// verify stops the push.
func TestUnverifiableSignatureIsNotPushed(t *testing.T) {
	t.Parallel()
	key, _ := newSSHKey(t, "ed25519", "")
	bare := gittest.NewBare(t)
	r := open(t, bare, "p", func(o *RepoOptions) { o.SigningKeyPath = key })
	r.signer = brokenSigner{r.signer}
	if _, err := r.Sync(t.Context(), fileset.Files{"a": []byte("1")}, "s"); err == nil || !strings.Contains(err.Error(), "refusing to push a commit whose signature does not verify") {
		t.Fatalf("Sync with a broken signer: error = %v, want a refusal", err)
	}
	if got := branchHead(t, bare, "main"); got != "" {
		t.Errorf("main = %s, want nothing pushed", got)
	}
}

// brokenSigner signs something other than what it is given.
type brokenSigner struct{ signer }

func (b brokenSigner) sign(payload []byte) (string, error) {
	return b.signer.sign(append(payload, '!'))
}
