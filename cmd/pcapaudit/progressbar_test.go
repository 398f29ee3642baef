package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestProgressBarNotOnAPipe: with stderr not a terminal (a file, a buffer), no bar is drawn,
// even for a read longer than the delay, and the NDJSON on stdout is untouched.
func TestProgressBarNotOnAPipe(t *testing.T) {
	old := barDelay
	barDelay = 0
	defer func() { barDelay = old }()

	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := startBar(f, 1000, func() int64 { return 500 })
	time.Sleep(3 * barEvery)
	stop()
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Errorf("a bar was written to a file: %d bytes", st.Size())
	}
	s := makeTriageSet(t)
	r := runCmd(t, nil, "-f", "json", "--fail-on", "none", s.dir)
	if strings.Contains(r.stderr, "reading") || strings.Contains(r.stdout, "reading") || strings.Contains(r.stdout, "\r") {
		t.Errorf("a bar was drawn without a terminal:\nstderr %q", r.stderr)
	}
}

// TestProgressBarOnATerminal: on a terminal (a pty), a read longer than the delay shows the
// bar with the bytes read of the total, the rate and the time left; stop clears it.
func TestProgressBarOnATerminal(t *testing.T) {
	old := barDelay
	barDelay = 50 * time.Millisecond
	defer func() { barDelay = old }()

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, ptmx)
		close(copied)
	}()
	var n atomic.Int64
	stop := startBar(tty, 10<<20, func() int64 { return n.Add(1 << 20) })
	time.Sleep(barDelay + 5*barEvery)
	stop()
	tty.Close()
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	got := out.String()
	// "reading  30% |█████████      | (3.0/10 MB, 7.9 MB/s) [0s:1s]": done of total, the
	// rate, the time elapsed and left.
	if !regexp.MustCompile(`reading +\d+% .*\(\d+(\.\d+)?/10 MB, [\d.]+ [kMG]?B/s\) \[\d+s:\d+s\]`).MatchString(got) {
		t.Errorf("no bar with bytes of the total, rate and time left: %q", got)
	}
}
