package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/rules"
)

// docPages are the pages a reader of the repository is sent through.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, _ := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	if len(pages) < 6 {
		t.Fatalf("docs/ has %d pages", len(pages))
	}
	return append([]string{filepath.Join(repo, "README.md")}, pages...)
}

var (
	fenceRE    = regexp.MustCompile("(?ms)^```.*?^```")
	codeSpanRE = regexp.MustCompile("`[^`\n]*`")
	mdLinkRE   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE  = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// anchors returns the anchors GitHub makes of a Markdown page's headings.
func anchors(page string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(fenceRE.ReplaceAllString(page, ""), -1) {
		out[slug(m[1])] = true
	}
	return out
}

// slug is GitHub's anchor of a heading: lower case, punctuation other than '-' and '_'
// dropped, spaces turned into '-'.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocLinks: every relative link of the README and of docs/*.md points at a file of the
// repository, and an anchor at a heading of that page.
func TestDocLinks(t *testing.T) {
	links := 0
	for _, page := range docPages(t) {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		text := codeSpanRE.ReplaceAllString(fenceRE.ReplaceAllString(string(data), ""), "")
		for _, m := range mdLinkRE.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Errorf("%s: link %s: no such file", filepath.Base(page), target)
				continue
			}
			if anchor == "" {
				continue
			}
			if st.IsDir() || !strings.HasSuffix(path, ".md") {
				t.Errorf("%s: link %s: an anchor into something that is not a Markdown page", filepath.Base(page), target)
				continue
			}
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(body))[anchor] {
				t.Errorf("%s: link %s: %s has no heading with that anchor", filepath.Base(page), target, filepath.Base(path))
			}
		}
	}
	if links < 10 {
		t.Errorf("only %d relative links found: the link pattern no longer matches the pages", links)
	}
}

// TestRulesPage: docs/rules.md lists every rule of the default policy once, with its
// severity, and no rule the policy does not have.
func TestRulesPage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([a-z]+) \\|")
	listed := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		if _, dup := listed[m[1]]; dup {
			t.Errorf("docs/rules.md lists %s twice", m[1])
		}
		listed[m[1]] = m[2]
	}
	for _, r := range rules.Default().Rules {
		sev, ok := listed[r.ID]
		switch {
		case !ok:
			t.Errorf("docs/rules.md does not list rule %s", r.ID)
		case sev != r.Severity.String():
			t.Errorf("docs/rules.md gives %s severity %s, the policy %s", r.ID, sev, r.Severity)
		}
		delete(listed, r.ID)
	}
	for id := range listed {
		t.Errorf("docs/rules.md lists %s, which the default policy does not have", id)
	}
}
