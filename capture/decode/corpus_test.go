package decode

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// TestCorpus decodes every packet of the public corpus and reports the counts per status.
func TestCorpus(t *testing.T) {
	dir := corpustest.Dir(t)
	var total Stats
	for _, col := range corpustest.Manifest(t, dir) {
		ext := filepath.Ext(col[0])
		if ext != ".pcap" && ext != ".pcapng" && ext != ".cap" {
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
