package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
)

// Ownership marks an output directory or git path as ssm's: its
// kustomization.yaml starts with generate.Header. A sink refuses to prune
// a non-empty path without it: give it to a fileset.DirSink; NewGitSink
// passes it.
// Its placeholder, a kustomization listing nothing, claims an empty
// directory before anything else lands in it.
var Ownership = fileset.Ownership{File: generate.KustomizationFile, Prefix: []byte(generate.Header), Placeholder: emptyKustomization()}

func emptyKustomization() []byte {
	files := map[string][]byte{}
	generate.Kustomize(files)
	return files[generate.KustomizationFile]
}

// GitSink commits each render to a branch (gitsync.Repo). It opens the
// repository on first use, so that an unreachable git server at start is
// retried like any failed write instead of ending the process.
type GitSink struct {
	opts gitsync.RepoOptions
	// Template, when set before the first Sync, writes the commit
	// messages; nil keeps gitsync's (the subject, counts and changed paths).
	Template *CommitTemplate
	mu       sync.Mutex
	repo     *gitsync.Repo
}

// NewGitSink returns a sink committing to the repository opts name; opts
// is validated by the first Sync (and by opts.Validate beforehand).
func NewGitSink(opts gitsync.RepoOptions) *GitSink {
	opts.Ownership = Ownership
	return &GitSink{opts: opts}
}

// Sync commits what plan returns for the owned path's files, and pushes it.
func (g *GitSink) Sync(ctx context.Context, plan fileset.Plan) (fileset.Result, error) {
	repo, err := g.open(ctx)
	if err != nil {
		return fileset.Result{}, err
	}
	if g.Template != nil {
		plan = g.Template.describe(plan)
	}
	return repo.Apply(ctx, plan)
}

func (g *GitSink) open(ctx context.Context) (*gitsync.Repo, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.repo != nil {
		return g.repo, nil
	}
	repo, err := gitsync.Open(ctx, g.opts)
	if err != nil {
		return nil, err
	}
	g.repo = repo
	return repo, nil
}

// CommitTemplate writes ssm's commit messages in a team's format: a Go
// text/template executed with CommitData. The first line it writes is the
// subject; what it writes is cut at gitsync.MaxMessageBytes; ssm's
// Ssm-Revision trailers close the message whatever it writes.
type CommitTemplate struct{ t *template.Template }

// CommitData is what a commit template is executed with.
type CommitData struct {
	// Subject is ssm's own subject: "ssm: mirror Services of <remotes>".
	Subject string
	// Added, Updated and Removed name the mirrors the commit adds, changes
	// and removes, "namespace/name" of the local Service (a global
	// Service's too), sorted. A mirror whose endpoints alone changed is
	// Updated.
	Added, Updated, Removed []string
	// Clusters names the remote clusters the render was read from, sorted,
	// and Revisions maps each to the resource versions read
	// ("services=12 endpointslices=40"), as the Ssm-Revision trailers and
	// .ssm-revisions record them.
	Clusters  []string
	Revisions map[string]string
	// Files lists the changed paths, relative to the owned path.
	Files FileChanges
}

// FileChanges lists changed paths by kind of change.
type FileChanges struct{ Added, Updated, Removed []string }

// ParseCommitTemplate parses text, with the function join (strings.Join),
// and tries it on example data, so that a misspelt field fails at start
// rather than at the first commit.
func ParseCommitTemplate(text string) (*CommitTemplate, error) {
	t, err := template.New("commit").Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("commit template: %w", err)
	}
	c := &CommitTemplate{t: t}
	msg, err := c.execute(CommitData{Subject: "ssm: mirror Services of remote", Added: []string{"mirrors/a"}, Updated: []string{"mirrors/b"},
		Removed: []string{"mirrors/c"}, Clusters: []string{"remote"}, Revisions: map[string]string{"remote": "services=1"},
		Files: FileChanges{Added: []string{"a.yaml"}, Updated: []string{"b.yaml"}, Removed: []string{"c.yaml"}}})
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(msg) == "" {
		return nil, errors.New("commit template: it writes nothing; its first line is the commit's subject")
	}
	return c, nil
}

// describe wraps plan so that its writes carry a message from the template.
func (c *CommitTemplate) describe(plan fileset.Plan) fileset.Plan {
	return func(s fileset.Stored) (fileset.Write, error) {
		w, err := plan(s)
		if err != nil {
			return w, err
		}
		subject, files := w.Subject, w.Files
		w.Message = func(changes []fileset.Change) (string, error) {
			return c.execute(commitData(subject, files, changes))
		}
		return w, nil
	}
}

// errLong stops a template that writes more than a message may hold.
var errLong = errors.New("too long")

// capped keeps what is written up to a bound, then fails the write.
type capped struct{ b []byte }

func (c *capped) Write(p []byte) (int, error) {
	room := gitsync.MaxMessageBytes + 1 - len(c.b)
	if len(p) > room {
		c.b = append(c.b, p[:room]...)
		return room, errLong
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

func (c *CommitTemplate) execute(d CommitData) (string, error) {
	var out capped
	if err := c.t.Execute(&out, d); err != nil && !errors.Is(err, errLong) {
		return "", fmt.Errorf("commit template: %w", err)
	}
	return string(out.b), nil // gitsync cuts what is too long, and says so
}

// commitData describes changes to files, rendered with subject.
func commitData(subject string, files fileset.Files, changes []fileset.Change) CommitData {
	d := CommitData{Subject: subject, Revisions: map[string]string{}}
	revs := parseRevisions(files[RevisionsFile])
	d.Clusters = slices.Sorted(maps.Keys(revs))
	for c, r := range revs {
		d.Revisions[c] = r.String()
	}
	kinds := map[string]fileset.ChangeKind{}
	for _, c := range changes {
		data := c.New
		switch c.Kind {
		case fileset.Added:
			d.Files.Added = append(d.Files.Added, c.Path)
		case fileset.Updated:
			d.Files.Updated = append(d.Files.Updated, c.Path)
		case fileset.Removed:
			d.Files.Removed = append(d.Files.Removed, c.Path)
			data = c.Old
		}
		name, isService, ok := mirrorOf(c.Path, data)
		switch {
		case !ok:
		case isService:
			kinds[name] = c.Kind
		case kinds[name] == "":
			kinds[name] = fileset.Updated
		}
	}
	for _, name := range slices.Sorted(maps.Keys(kinds)) {
		switch kinds[name] {
		case fileset.Added:
			d.Added = append(d.Added, name)
		case fileset.Updated:
			d.Updated = append(d.Updated, name)
		case fileset.Removed:
			d.Removed = append(d.Removed, name)
		}
	}
	return d
}

// mirrorOf names the mirror a rendered file is of, "namespace/name", from
// its first document: the Service, or the Endpoints or EndpointSlices of a
// Service rendered elsewhere (NodePort mode's manual endpoints, a global
// Service's per-cluster slices). isService tells whether the file holds
// the Service itself.
func mirrorOf(p string, data []byte) (name string, isService, ok bool) {
	if base := path.Base(p); base == generate.KustomizationFile || !strings.HasSuffix(base, ".yaml") || strings.HasPrefix(base, ".") {
		return "", false, false
	}
	first, _, _ := bytes.Cut(data, []byte("\n---\n"))
	var doc struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if yaml.Unmarshal(first, &doc) != nil {
		return "", false, false
	}
	switch doc.Kind {
	case "Service", "Endpoints":
		name = doc.Metadata.Name
	case "EndpointSlice":
		name = doc.Metadata.Labels[discoveryv1.LabelServiceName]
	}
	if name == "" {
		return "", false, false
	}
	return doc.Metadata.Namespace + "/" + name, doc.Kind == "Service", true
}
