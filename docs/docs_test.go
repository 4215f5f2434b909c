package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository, seen from this package's folder.
const root = ".."

// maxREADME is the front door's budget: what mospay is, the two commands, the demo, where to read
// next. Everything else has a page in docs/.
const maxREADME = 8192

// TestREADMEIsAFrontDoor: the README stays within its budget and links every page of docs/ and
// the changelog, so that no page is an orphan.
func TestREADMEIsAFrontDoor(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(readme) > maxREADME {
		t.Errorf("README.md is %d bytes, over its budget of %d: move detail into docs/", len(readme), maxREADME)
	}
	pages, err := filepath.Glob("*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("docs/*.md: %v %v", pages, err)
	}
	for _, p := range append(pages, "openapi.yaml", "../CHANGELOG.md") {
		link := "](" + filepath.ToSlash(filepath.Clean(filepath.Join("docs", p))) + ")"
		if !strings.Contains(string(readme), link) {
			t.Errorf("README.md does not link %s (want %q)", p, link)
		}
	}
}

// Citations of a section in the code and the docs: a page's path followed by the heading in
// double quotes (docs/api.md and "Errors", with an optional comma or 's between), the README's
// likewise, and Markdown links to a page with an optional #anchor.
var (
	citeQuoted = regexp.MustCompile(`(docs/[a-z]+\.md|README(?:\.md)?)(?:'s)?,? "([^"]+)"`)
	citeLink   = regexp.MustCompile(`\]\(([^)#\s]+\.md)(#[^)\s]+)?\)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// TestCitationsResolve: every section a comment or a page cites exists, under that name, in the
// page it names, so that moving text between pages cannot leave a pointer to nowhere.
func TestCitationsResolve(t *testing.T) {
	headings := map[string]map[string]bool{} // page (from the root) → heading text and anchors
	sections := func(page string) map[string]bool {
		if h, ok := headings[page]; ok {
			return h
		}
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			headings[page] = nil
			return nil
		}
		h := map[string]bool{}
		for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
			h[m[1]] = true
			h["#"+anchor(m[1])] = true
		}
		headings[page] = h
		return h
	}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "data" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range citeQuoted.FindAllStringSubmatch(string(b), -1) {
			page := m[1]
			if strings.HasPrefix(page, "README") {
				page = "README.md"
			}
			checked++
			if h := sections(page); h == nil {
				t.Errorf("%s cites %s, which does not exist", rel, page)
			} else if !h[m[2]] {
				t.Errorf("%s cites the section %q of %s, which has no such heading", rel, m[2], page)
			}
		}
		if !strings.HasSuffix(name, ".md") {
			return nil
		}
		for _, m := range citeLink.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], "://") {
				continue
			}
			page := filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(rel), m[1])))
			checked++
			if h := sections(page); h == nil {
				t.Errorf("%s links %s, which does not exist", rel, page)
			} else if m[2] != "" && !h[m[2]] {
				t.Errorf("%s links %s%s, which has no such heading", rel, page, m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d citations found: the patterns no longer match how the code cites", checked)
	}
}

// anchor is a heading's fragment as Markdown renderers make it: lower case, spaces as hyphens,
// punctuation dropped.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}
