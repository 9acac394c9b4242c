package gitsync

import (
	"errors"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestWriteMessage: a Write's Message writes the whole message, from the
// changes the commit makes; the trailers still close it, where git reads
// them.
func TestWriteMessage(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	mustSync(t, r, fileset.Files{"a": []byte("1"), "b": []byte("1")})
	var got []fileset.Change
	_, err := r.Apply(t.Context(), func(fileset.Stored) (fileset.Write, error) {
		return fileset.Write{Files: fileset.Files{"a": []byte("2"), "c": []byte("1")}, Trailers: []string{"Ssm-Revision: x"},
			Message: func(changes []fileset.Change) (string, error) {
				got = changes
				return "\n\nfeat(mirrors): sync\n\nBody.\n\nSigned-off-by: Bot <bot@example.com>\n\n", nil
			}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range got {
		kinds = append(kinds, string(c.Kind)+" "+c.Path)
	}
	if got, want := strings.Join(kinds, ","), "updated a,removed b,added c"; got != want {
		t.Errorf("Message was given %s, want %s", got, want)
	}
	msg := gittest.Git(t, bare, "log", "-1", "--format=%B")
	if want := "feat(mirrors): sync\n\nBody.\n\nSigned-off-by: Bot <bot@example.com>\nSsm-Revision: x"; msg != want {
		t.Errorf("message:\n%s\nwant:\n%s", msg, want)
	}
	if got := gittest.Git(t, bare, "log", "-1", "--format=%(trailers:key=Ssm-Revision,valueonly)"); got != "x" {
		t.Errorf("git reads the trailer Ssm-Revision as %q, want x", got)
	}

	_, err = r.Apply(t.Context(), func(fileset.Stored) (fileset.Write, error) {
		return fileset.Write{Files: fileset.Files{"a": []byte("3")}, Message: func([]fileset.Change) (string, error) { return "", errors.New("boom") }}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "write the commit message: boom") {
		t.Errorf("Apply with a failing Message: error = %v", err)
	}
}

func TestWrittenMessage(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a line of the body\n", 2000)
	for _, tc := range []struct {
		name, body, subject string
		trailers            []string
		want                string
	}{
		{"plain", "subject\n\nbody", "", []string{"K: v"}, "subject\n\nbody\n\nK: v\n"},
		{"empty takes the subject", " \n\t", "ssm: mirror", nil, "ssm: mirror\n"},
		{"empty without subject", "", "", nil, defaultSubject + "\n"},
		{"NUL and invalid UTF-8", "a\x00b\xff", "", nil, "ab\uFFFD\n"},
		{"joins a trailer block", "s\n\nA-B: c", "", []string{"K: v"}, "s\n\nA-B: c\nK: v\n"},
		{"a subject is no trailer block", "Fix: it", "", []string{"K: v"}, "Fix: it\n\nK: v\n"},
	} {
		if got := writtenMessage(tc.body, tc.subject, tc.trailers); got != tc.want {
			t.Errorf("%s: writtenMessage = %q, want %q", tc.name, got, tc.want)
		}
	}
	got := writtenMessage(long, "", []string{"K: v"})
	if !strings.HasSuffix(got, "\n\n(message cut at 16 KiB)\n\nK: v\n") || len(got) > MaxMessageBytes+100 {
		t.Errorf("a long message is %d bytes ending %q, want it cut at %d with a note, the trailers kept", len(got), got[len(got)-60:], MaxMessageBytes)
	}
}
