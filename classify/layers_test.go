package classify

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The pipeline runs one way (capture → classify → rules → report): a package may not import
// one downstream of it. Checked on the source of every non-test file, so a forbidden import
// fails here before it becomes a cycle or a policy that sees packets.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/pcapaudit/pcapaudit/"
	forbidden := []struct {
		dir string   // packages at or below this directory...
		not []string // ...import none of these (or anything below them)
	}{
		{"capture", []string{"classify", "rules", "cmd"}},
		{"classify", []string{"rules", "cmd"}},
		{"classify/flow", []string{"capture", "classify/ntp", "classify/sip", "classify/ldap", "classify/tls"}},
		{"rules", []string{"capture", "cmd"}},
		{"cmd/internal/report", []string{"capture"}},
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range forbidden {
		err := filepath.WalkDir(filepath.Join(root, f.dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			rel, _ := filepath.Rel(root, path)
			for _, im := range file.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				for _, n := range f.not {
					if p == mod+n || strings.HasPrefix(p, mod+n+"/") {
						t.Errorf("%s imports %s: %s may not depend on %s", rel, p, f.dir, n)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d source files checked", checked)
	}
}
