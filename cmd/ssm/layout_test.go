package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const modulePath = "github.com/ssm-dev/ssm/"

// TestDocsCodeLayout: the arrows of docs/development.md's code layout are
// exactly the imports between ssm's packages, as go list reports them (test
// files aside); a package the layout marks "tests only" is imported by no
// other package's code; and every package has a doc comment.
func TestDocsCodeLayout(t *testing.T) {
	doc, err := os.ReadFile("../../docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	stated, testsOnly, err := layoutArrows(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := goList(t)
	imports := map[string][]string{}
	for _, p := range pkgs {
		if len(p.GoFiles) == 0 {
			continue // e2e: tests only, and they may import anything
		}
		if p.Doc == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
		own := []string{}
		for _, imp := range p.Imports {
			if dep, ok := strings.CutPrefix(imp, modulePath); ok {
				own = append(own, dep)
				if testsOnly[dep] {
					t.Errorf("%s imports %s, which is for tests only", p.ImportPath, dep)
				}
			}
		}
		slices.Sort(own)
		imports[strings.TrimPrefix(p.ImportPath, modulePath)] = own
	}
	if diff := cmp.Diff(imports, stated); diff != "" {
		t.Errorf("docs/development.md's arrows (+) differ from the imports (-):\n%s", diff)
	}
}

// layoutArrows reads the arrows of the code layout: in the first text
// block after "## Code layout", lines "pkg ───► dep, dep", where "(none)"
// stands for no dependency and "tests only" marks a package for tests.
func layoutArrows(doc string) (map[string][]string, map[string]bool, error) {
	_, after, ok := strings.Cut(doc, "## Code layout")
	if !ok {
		return nil, nil, errors.New(`no "## Code layout" section`)
	}
	_, block, ok := strings.Cut(after, "```text\n")
	if !ok {
		return nil, nil, errors.New("no text block in the code layout")
	}
	block, _, _ = strings.Cut(block, "```")
	arrows, testsOnly := map[string][]string{}, map[string]bool{}
	for line := range strings.Lines(block) {
		from, to, ok := strings.Cut(line, "►")
		if !ok {
			return nil, nil, errors.New("a line of the code layout without an arrow: " + line)
		}
		pkg := strings.TrimRight(from, " ─")
		if strings.Contains(to, "tests only") {
			testsOnly[pkg] = true
		}
		to, _, _ = strings.Cut(to, "(")
		deps := []string{}
		for d := range strings.SplitSeq(to, ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, d)
			}
		}
		slices.Sort(deps)
		if _, dup := arrows[pkg]; dup {
			return nil, nil, errors.New("the code layout names " + pkg + " twice")
		}
		arrows[pkg] = deps
	}
	return arrows, testsOnly, nil
}

// listedPackage is what go list -json says of a package.
type listedPackage struct {
	ImportPath, Doc string
	GoFiles         []string
	Imports         []string
}

// goList lists the module's packages, sorted by import path.
func goList(t *testing.T) []listedPackage {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go list needs the go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Doc,GoFiles,Imports", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	byPath := map[string]listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		byPath[p.ImportPath] = p
	}
	var pkgs []listedPackage
	for _, path := range slices.Sorted(maps.Keys(byPath)) {
		pkgs = append(pkgs, byPath[path])
	}
	return pkgs
}
