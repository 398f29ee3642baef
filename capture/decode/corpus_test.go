package decode

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
)

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

// TestCorpus decodes every packet of the public corpus and reports the counts per status.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total Stats
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		ext := filepath.Ext(col[0])
		if col[0] == "path" || (ext != ".pcap" && ext != ".pcapng" && ext != ".cap") {
			continue
		}
		s, err := capture.Open(filepath.Join(dir, col[0]))
		if err != nil {
			t.Errorf("%s: %v", col[0], err)
			continue
		}
		d := New(Config{})
		var cp capture.Packet
		var p Packet
		for {
			if err = s.Next(&cp); err != nil {
				break
			}
			d.Decode(cp.Data, cp.LinkType, cp.Timestamp, &p)
		}
		s.Close()
		if err != io.EOF {
			t.Logf("%s: %v", col[0], err)
		}
		st := d.Stats()
		if st.UnsupportedLink != 0 {
			t.Errorf("%s: %d frames of an unsupported link type", col[0], st.UnsupportedLink)
		}
		if st.Malformed+st.Truncated != 0 || st.FragReassembled != 0 {
			t.Logf("%s: %+v", col[0], *st)
		}
		total.Add(st)
	}
	t.Logf("total: %+v", total)
	if total.OK == 0 {
		t.Error("nothing decoded")
	}
}
