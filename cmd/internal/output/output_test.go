package output

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// blocked is a destination that accepts nothing until released (a stdout nobody reads).
type blocked struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (b *blocked) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// TestBlockedOutputDropsWholeDocumentsAndNeverBlocks: with the destination blocked, writes
// return at once; what does not fit in the buffer is dropped by whole documents and counted;
// once released, every kept document arrives intact and in order.
func TestBlockedOutputDropsWholeDocumentsAndNeverBlocks(t *testing.T) {
	dst := &blocked{release: make(chan struct{})}
	w, err := Open(Options{Stdout: dst, Buffer: 1000})
	if err != nil {
		t.Fatal(err)
	}
	const docs = 200
	start := time.Now()
	for i := 0; i < docs; i++ {
		doc := fmt.Sprintf(`{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", 30))
		// Split documents across writes, as a buffered writer does.
		h := len(doc) / 2
		w.Write([]byte(doc[:h]))
		w.Write([]byte(doc[h:]))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("writes into a blocked output took %v", d)
	}
	close(dst.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(dst.buf.String(), "\n"), "\n")
	if uint64(len(lines)) != w.Written() || w.Written()+w.Dropped() != docs {
		t.Fatalf("%d lines out, written %d, dropped %d; want written+dropped = %d", len(lines), w.Written(), w.Dropped(), docs)
	}
	if w.Dropped() == 0 || w.Written() == 0 {
		t.Fatalf("written %d, dropped %d: a 1000-byte buffer holds some of 200 50-byte documents, not all", w.Written(), w.Dropped())
	}
	prev := -1
	for _, l := range lines {
		var n int
		if _, err := fmt.Sscanf(l, `{"n":%d,`, &n); err != nil || !strings.HasSuffix(l, `"}`) || n <= prev {
			t.Fatalf("document %q cut or out of order (after %d)", l, prev)
		}
		prev = n
	}
}

// TestReopenAfterLogrotate: after the file is moved away (logrotate's default), Reopen makes
// the next document go to a new file of the same name.
func TestReopenAfterLogrotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pcapaudit.ndjson")
	w, err := Open(Options{Path: path, MaxSizeMB: 10})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("{\"a\":1}\n"))
	waitFor(t, func() bool { return w.Written() == 1 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("{\"a\":2}\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "{\"a\":1}\n" || string(cur) != "{\"a\":2}\n" {
		t.Fatalf("rotated file %q, new file %q", old, cur)
	}
}

// TestRotateByAgeKeepsABoundedNumber: rotation at an interval keeps at most Keep old files.
func TestRotateByAgeKeepsABoundedNumber(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.ndjson")
	w, err := Open(Options{Path: path, MaxSizeMB: 10, RotateEvery: 20 * time.Millisecond, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 15; i++ {
		w.Write([]byte(fmt.Sprintf("{\"i\":%d}\n", i)))
		time.Sleep(15 * time.Millisecond)
	}
	w.Close()
	time.Sleep(100 * time.Millisecond) // lumberjack deletes old files on its own goroutine
	files, _ := filepath.Glob(filepath.Join(dir, "out*.ndjson"))
	if len(files) < 2 || len(files) > 3 {
		t.Fatalf("%d files after rotating every 20 ms and keeping 2: %v", len(files), files)
	}
}

// TestUnwritablePathIsAnErrorAtOnce: a path that cannot be written fails Open, before any
// capture starts.
func TestUnwritablePathIsAnErrorAtOnce(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := Open(Options{Path: filepath.Join(f, "sub", "out.ndjson")}); err == nil {
		t.Fatal("a path under a regular file opened")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5 s")
}
