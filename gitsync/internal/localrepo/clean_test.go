package localrepo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

func TestCleansWhatAKilledWriterLeft(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	mustUpdate(t, open(t, bare, nil), main, plumbing.ZeroHash, map[string]string{"a": "1"})
	pack := func(hex, ext string) string { return "objects/pack/pack-" + strings.Repeat(hex, 40) + ext }
	// An index ends with its pack's checksum and its own.
	idxOf := func(digit string) string {
		sum, _ := hex.DecodeString(strings.Repeat(digit, 40))
		return "index" + string(sum) + strings.Repeat("\x00", 20)
	}
	ours := map[string]string{
		"ssm-ref-123.tmp":                  "", // earlier versions' ref lock contents
		"objects/ab/tmp_obj_ssm-x1y2":      "", // a loose object being written
		"objects/ab/tmp_obj_3141592653":    "", // earlier versions' (os.CreateTemp)
		"objects/pack/tmp_pack_ssm-k9":     "", // a pack being written
		"objects/pack/tmp_idx_ssm-k9":      idxOf("a"),
		pack("a", ".pack"):                 "", // moved in, but its index never was
		"objects/pack/tmp_pack_2718281828": "", // go-git's pack writer, which earlier versions used
		"refs/heads/.main.lock.ssm-stale":  "", // a stale lock moved aside
		"objects/pack/tmp_idx_ssm-c1":      idxOf("c"),
		"logs/refs/heads/.ssm-file-r2":     "", // a reflog being made in a shared repository
		"objects/.ssm-dir-q1/":             "", // and directories
		"logs/refs/.ssm-dir-q2/":           "",
		".ssm-dir-q3/":                     "",
		"objects/pack/tmp_idx_ssm-d4":      "short", // cut short: names no pack
	}
	gits := map[string]string{
		"objects/ab/tmp_obj_Ab12cD":    "", // git's own, maybe being written now
		"objects/ab/tmp_obj_123456":    "", // six digits: maybe git's
		"objects/pack/tmp_pack_Zz09aB": "",
		"objects/pack/tmp_idx_Zz09aB":  "",
		pack("b", ".pack"):             "", // maybe git's, about to get its index
		pack("c", ".pack"):             "", // has its index: the temporary one is a copy
		pack("c", ".idx"):              "",
		"refs/heads/main.lock":         "",
		"refs/tags/.ssm-dir-x":         "", // not where an update of main makes anything
	}
	plant(t, bare, ours)
	plant(t, bare, gits)
	var logs bytes.Buffer
	r := open(t, bare, &logs)
	if _, _, err := r.Head(t.Context(), main); err != nil {
		t.Fatal(err)
	}
	for p := range ours {
		p = strings.TrimSuffix(p, "/")
		if _, err := os.Lstat(filepath.Join(bare, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was left: %v", p, err)
		}
		if !strings.Contains(logs.String(), p) {
			t.Errorf("the log does not name %s", p)
		}
	}
	for p := range gits {
		if _, err := os.Lstat(filepath.Join(bare, p)); err != nil {
			t.Errorf("%s, which may be git's, was removed: %v", p, err)
		}
	}
	// Once per reference: what appears later is a live writer's.
	plant(t, bare, map[string]string{"objects/ab/tmp_obj_ssm-late": ""})
	logs.Reset()
	if _, _, err := r.Head(t.Context(), main); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(bare, "objects/ab/tmp_obj_ssm-late")); err != nil || logs.Len() != 0 {
		t.Errorf("a second read removed a file (%v) or logged:\n%s", err, logs.String())
	}
}

// plant creates files below dir, and directories for paths ending in a
// slash, an hour old: their age tells nothing.
func plant(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if strings.HasSuffix(rel, "/") {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte(data), 0o444)
		}
		if err != nil {
			t.Fatal(err)
		}
		age(t, p, time.Hour)
	}
}

func TestIsGoTemp(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"tmp_obj_3141592653": true,
		"tmp_obj_123456":     false, // git's length
		"tmp_obj_":           false,
		"tmp_obj_12a4567":    false,
		"tmp_pack_1":         false, // another prefix
	} {
		if got := isGoTemp(name, "tmp_obj_"); got != want {
			t.Errorf("isGoTemp(%q) = %v, want %v", name, got, want)
		}
	}
}
