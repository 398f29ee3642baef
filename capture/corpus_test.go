package capture

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// corpusDir finds the public capture corpus next to the repository (../shared/corpus from the
// module root). It is not part of the repository; tests skip when it is absent.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found")
		}
		dir = parent
	}
	c := filepath.Join(dir, "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(c, "MANIFEST.tsv")); err != nil {
		t.Skip("public capture corpus absent")
	}
	return c
}

// TestCorpus opens every capture listed in the corpus manifest and checks its packet count.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	files := 0
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) < 7 || col[0] == "path" {
			continue
		}
		ext := filepath.Ext(col[0])
		if ext != ".pcap" && ext != ".pcapng" && ext != ".cap" {
			continue
		}
		files++
		name := filepath.Join(dir, col[0])
		s, err := Open(name)
		if err != nil {
			t.Errorf("%s: %v", col[0], err)
			continue
		}
		n := 0
		var p Packet
		for {
			err = s.Next(&p)
			if err != nil {
				break
			}
			n++
			if p.Frame != uint64(n) {
				t.Errorf("%s: frame %d at packet %d", col[0], p.Frame, n)
			}
		}
		s.Close()
		if err != io.EOF {
			// A file the manifest describes as damaged may end in a TruncatedError; the count
			// still has to match what was delivered.
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: %v", col[0], err)
			} else {
				t.Logf("%s: %v", col[0], err)
			}
		}
		if want, perr := strconv.Atoi(col[6]); perr == nil && n != want {
			t.Errorf("%s: %d packets, manifest says %d", col[0], n, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d capture files read", files)
}
