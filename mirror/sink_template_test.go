package mirror_test

import (
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/internal/gittest"
	"github.com/ssm-dev/ssm/mirror"
)

func mirrorFile(name, endpointIP string) []byte {
	return []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: mirrors\nspec:\n  type: ClusterIP\n" +
		"---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: " + name + "\n  namespace: mirrors\nsubsets:\n- addresses:\n  - ip: " + endpointIP + "\n")
}

// TestCommitTemplate: the template is given the mirrors a commit adds,
// changes and removes, by name, the clusters and their revisions; ssm's
// trailers still close the message.
func TestCommitTemplate(t *testing.T) {
	t.Parallel()
	tmpl, err := mirror.ParseCommitTemplate(`chore(mirrors): {{len .Added}} added, {{len .Updated}} updated, {{len .Removed}} removed

{{range .Added}}+ {{.}}
{{end}}{{range .Updated}}~ {{.}}
{{end}}{{range .Removed}}- {{.}}
{{end}}
{{range .Clusters}}{{.}} at {{index $.Revisions .}}
{{end}}files: {{join .Files.Updated ","}}
(was: {{.Subject}})`)
	if err != nil {
		t.Fatal(err)
	}
	bare := gittest.NewBare(t)
	sink := mirror.NewGitSink(gitsync.RepoOptions{URL: bare, Path: "p"})
	sink.Template = tmpl
	write := func(files fileset.Files) {
		t.Helper()
		files[mirror.RevisionsFile] = []byte("east services=5 endpoints=7\nwest services=3\n")
		files[generate.KustomizationFile] = []byte(generate.Header)
		if _, err := sink.Sync(t.Context(), func(fileset.Stored) (fileset.Write, error) {
			return fileset.Write{Files: files, Subject: "ssm: mirror Services of east, west", Trailers: []string{"Ssm-Revision: east services=5 endpoints=7"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(fileset.Files{"east/web.yaml": mirrorFile("east-shop-73736d-web", "10.0.0.1"), "east/pg.yaml": mirrorFile("east-db-73736d-pg", "10.0.0.2")})
	write(fileset.Files{"east/web.yaml": mirrorFile("east-shop-73736d-web", "10.0.0.9"), "west/api.yaml": mirrorFile("west-apps-73736d-api", "10.1.0.1")})
	got := gittest.Git(t, bare, "log", "-1", "--format=%B")
	want := `chore(mirrors): 1 added, 1 updated, 1 removed

+ mirrors/west-apps-73736d-api
~ mirrors/east-shop-73736d-web
- mirrors/east-db-73736d-pg

east at endpoints=7 services=5
west at services=3
files: east/web.yaml
(was: ssm: mirror Services of east, west)

Ssm-Revision: east services=5 endpoints=7`
	if got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseCommitTemplateRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"{{.Nope}}", "can't evaluate field Nope"},
		{"{{if}}", "missing value for if"},
		{"  \n", "it writes nothing"},
	} {
		if _, err := mirror.ParseCommitTemplate(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCommitTemplate(%q): error = %v, want one containing %q", tc.text, err, tc.want)
		}
	}
}

// TestCommitTemplateCapped: a template that writes without end is cut.
func TestCommitTemplateCapped(t *testing.T) {
	t.Parallel()
	tmpl, err := mirror.ParseCommitTemplate("subject\n\n{{range .Clusters}}{{range $.Clusters}}{{range $.Clusters}}{{range $.Clusters}}" +
		"{{range $.Clusters}}{{range $.Clusters}}a long line of text, written over and over\n{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}")
	if err != nil {
		t.Fatal(err)
	}
	bare := gittest.NewBare(t)
	sink := mirror.NewGitSink(gitsync.RepoOptions{URL: bare, Path: "p"})
	sink.Template = tmpl
	var lines []string // 12 clusters: 12^6 lines
	for i := range 12 {
		lines = append(lines, "c"+strings.Repeat("x", i)+" services=1")
	}
	if _, err := sink.Sync(t.Context(), func(fileset.Stored) (fileset.Write, error) {
		return fileset.Write{Files: fileset.Files{"a.yaml": []byte("x: 1\n"), mirror.RevisionsFile: []byte(strings.Join(lines, "\n") + "\n")}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	msg := gittest.Git(t, bare, "log", "-1", "--format=%B")
	if len(msg) > gitsync.MaxMessageBytes+64 || !strings.HasSuffix(msg, "(message cut at 16 KiB)") {
		t.Errorf("message of %d bytes ending %q, want it cut at %d bytes", len(msg), msg[max(0, len(msg)-40):], gitsync.MaxMessageBytes)
	}
}
