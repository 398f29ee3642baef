package capture

import (
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// TestCorpus opens every capture listed in the corpus manifest and checks its packet count.
func TestCorpus(t *testing.T) {
	dir := corpustest.Dir(t)
	files := 0
	for _, col := range corpustest.Manifest(t, dir) {
		if len(col) < 7 {
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
	t.Logf("%d capture files read", files)
}
