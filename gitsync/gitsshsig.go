package gitsync

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// sshSigner signs as git does with gpg.format=ssh: an SSHSIG signature
// (OpenSSH's PROTOCOL.sshsig, what ssh-keygen -Y sign writes) in the
// namespace "git", over SHA-512, armored.
type sshSigner struct{ signer ssh.Signer }

const (
	sshsigMagic     = "SSHSIG"
	sshsigVersion   = 1
	sshsigNamespace = "git"
	sshsigHash      = "sha512"
	sshsigBegin     = "-----BEGIN SSH SIGNATURE-----"
	sshsigEnd       = "-----END SSH SIGNATURE-----"
)

func newSSHSigner(pemBytes, passphrase []byte, havePassphrase bool) (*sshSigner, error) {
	s, err := ssh.ParsePrivateKey(pemBytes)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		if !havePassphrase {
			return nil, errors.New("it is encrypted: give the passphrase in a file (--git-signing-passphrase-path)")
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, passphrase)
	}
	if err != nil {
		return nil, err
	}
	return &sshSigner{signer: s}, nil
}

// signedData is what an SSHSIG signature signs: the magic, the namespace,
// the hash algorithm and the hash of the message.
func signedData(payload []byte) []byte {
	h := sha512.Sum512(payload)
	b := []byte(sshsigMagic)
	for _, s := range [][]byte{[]byte(sshsigNamespace), nil, []byte(sshsigHash), h[:]} {
		b = appendSSHString(b, s)
	}
	return b
}

func appendSSHString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func (s *sshSigner) sign(payload []byte) (string, error) {
	data := signedData(payload)
	var sig *ssh.Signature
	var err error
	if as, ok := s.signer.(ssh.AlgorithmSigner); ok && s.signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		// ssh-keygen refuses SHA-1 RSA signatures ("ssh-rsa").
		sig, err = as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = s.signer.Sign(rand.Reader, data)
	}
	if err != nil {
		return "", err
	}
	blob := binary.BigEndian.AppendUint32([]byte(sshsigMagic), sshsigVersion)
	for _, f := range [][]byte{s.signer.PublicKey().Marshal(), []byte(sshsigNamespace), nil, []byte(sshsigHash), ssh.Marshal(sig)} {
		blob = appendSSHString(blob, f)
	}
	enc := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	b.WriteString(sshsigBegin + "\n")
	for len(enc) > 70 { // as ssh-keygen wraps it
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n" + sshsigEnd + "\n")
	return b.String(), nil
}

func (s *sshSigner) verify(payload []byte, armored string) error {
	body, ok := strings.CutPrefix(strings.TrimSpace(armored), sshsigBegin)
	if body, ok = strings.CutSuffix(body, sshsigEnd); !ok {
		return errors.New("not an armored SSH signature")
	}
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return fmt.Errorf("decode SSH signature: %w", err)
	}
	rest, ok := bytes.CutPrefix(blob, []byte(sshsigMagic))
	if !ok || len(rest) < 4 || binary.BigEndian.Uint32(rest) != sshsigVersion {
		return errors.New("not an SSHSIG signature of version 1")
	}
	var f struct {
		PublicKey, Namespace, Reserved, Hash, Signature []byte
	}
	if err := ssh.Unmarshal(rest[4:], &f); err != nil {
		return fmt.Errorf("decode SSH signature: %w", err)
	}
	switch {
	case !bytes.Equal(f.PublicKey, s.signer.PublicKey().Marshal()):
		return errors.New("signed by another key")
	case string(f.Namespace) != sshsigNamespace || string(f.Hash) != sshsigHash:
		return fmt.Errorf("signed in namespace %q over %q, want %q over %q", f.Namespace, f.Hash, sshsigNamespace, sshsigHash)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(f.Signature, sig); err != nil {
		return fmt.Errorf("decode SSH signature: %w", err)
	}
	return s.signer.PublicKey().Verify(signedData(payload), sig)
}

func (s *sshSigner) String() string {
	return "SSH key " + ssh.FingerprintSHA256(s.signer.PublicKey())
}
