package gitsync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// signer signs the commits a Repo makes, in the commit's gpgsig header,
// and checks a signature it made.
type signer interface {
	// sign returns the armored signature of payload: the commit object
	// without its gpgsig header, which is what git verifies.
	sign(payload []byte) (string, error)
	// verify checks that sig is this key's valid signature of payload.
	verify(payload []byte, sig string) error
	// String names the key for logs: its kind and fingerprint.
	String() string
}

// loadSigner reads the signing key at keyPath, an armored OpenPGP private
// key (gpg --armor --export-secret-keys) or an SSH private key (as
// ssh-keygen writes it), told apart by its content, and decrypts it with
// the passphrase read from passphrasePath when it is encrypted. A
// passphrase file holds the passphrase; a final newline is not part of it.
func loadSigner(keyPath, passphrasePath string) (signer, error) {
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	var passphrase []byte
	if passphrasePath != "" {
		if passphrase, err = os.ReadFile(passphrasePath); err != nil {
			return nil, fmt.Errorf("read signing key passphrase: %w", err)
		}
		passphrase = bytes.TrimSuffix(bytes.TrimSuffix(passphrase, []byte("\n")), []byte("\r"))
	}
	var s signer
	switch text := string(key); {
	case strings.Contains(text, "-----BEGIN PGP PRIVATE KEY BLOCK-----"):
		s, err = newPGPSigner(key, passphrase, passphrasePath != "")
	case strings.Contains(text, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
		err = errors.New("it is an OpenPGP public key: ssm signs with the private key (gpg --armor --export-secret-keys)")
	case strings.Contains(text, "PRIVATE KEY-----"):
		s, err = newSSHSigner(key, passphrase, passphrasePath != "")
	default:
		err = errors.New("want an armored OpenPGP private key (-----BEGIN PGP PRIVATE KEY BLOCK-----) or an SSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)")
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", keyPath, err)
	}
	return s, nil
}

// pgpSigner signs as git does with gpg.format=openpgp (the default): an
// armored detached signature.
type pgpSigner struct {
	entity  *openpgp.Entity
	keyring openpgp.EntityList
}

func newPGPSigner(armored, passphrase []byte, havePassphrase bool) (*pgpSigner, error) {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("it holds %d OpenPGP keys; export the one to sign with", len(list))
	}
	e := list[0]
	if e.PrivateKey == nil {
		return nil, errors.New("it holds no private key")
	}
	if e.PrivateKey.Encrypted || anyEncryptedSubkey(e) {
		if !havePassphrase {
			return nil, errors.New("it is encrypted: give the passphrase in a file (--git-signing-passphrase-path)")
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, errors.New("it has no valid key that may sign")
	}
	return &pgpSigner{entity: e, keyring: list}, nil
}

func anyEncryptedSubkey(e *openpgp.Entity) bool {
	for _, k := range e.Subkeys {
		if k.PrivateKey != nil && k.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

func (p *pgpSigner) sign(payload []byte) (string, error) {
	var b strings.Builder
	if err := openpgp.ArmoredDetachSign(&b, p.entity, bytes.NewReader(payload), nil); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (p *pgpSigner) verify(payload []byte, sig string) error {
	_, err := openpgp.CheckArmoredDetachedSignature(p.keyring, bytes.NewReader(payload), strings.NewReader(sig), nil)
	return err
}

func (p *pgpSigner) String() string {
	return fmt.Sprintf("OpenPGP key %X", p.entity.PrimaryKey.Fingerprint)
}

// verifyCommit checks the signed commit object data as git verify-commit
// does: it decodes the object, takes its gpgsig header as the signature and
// the object less that header as what was signed, and checks them against
// the key of s. What is checked is what is pushed, not what was meant to
// be signed.
func verifyCommit(s signer, data []byte) error {
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.CommitObject)
	if _, err := obj.Write(data); err != nil {
		return err
	}
	c := &object.Commit{}
	if err := c.Decode(obj); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if c.PGPSignature == "" {
		return errors.New("the commit has no signature")
	}
	// The payload git verifies: the object as written, less the signature
	// header.
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return err
	}
	r, err := payload.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.verify(b, c.PGPSignature)
}
