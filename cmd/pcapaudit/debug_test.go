package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
)

// syncBuffer is a bytes.Buffer written by the command's goroutine and read by the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestDebugAddr: while an audit reads a capture that has not ended yet (standard input held
// open), --debug-addr shows how far it got and serves Go's profiles; when the audit ends,
// the server goes with it and the report is whole.
func TestDebugAddr(t *testing.T) {
	const exchanges = 3000 // 6000 packets; progress is published every 1024
	var frames [][]byte
	for i := range exchanges {
		port := 20000 + i
		frames = append(frames,
			hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, 1, 0, false, hostileUDP(port, 123, hostileNTP(3)))),
			hostileEth(0, 0x0800, hostileIPv4(hostileB, hostileA, 17, 2, 0, false, hostileUDP(123, port, hostileNTP(4)))))
	}
	pkts := hostileCapture(frames...) // the reference exchange makes it 3001 flows
	path := t.TempDir() + "/ntp.pcap"
	hostileWritePcap(t, path, pkts)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lastTime := pkts[len(pkts)-1].Time

	pr, pw := io.Pipe()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--debug-addr", "127.0.0.1:0", "--log-level", "info", "--format", "json", "-"}, pr, &stdout, &stderr)
	}()
	// Everything but the last 100 bytes: the reader waits for the rest.
	if _, err := pw.Write(data[:len(data)-100]); err != nil {
		t.Fatal(err)
	}

	addrRE := regexp.MustCompile(`"addr":"([^"]+)"`)
	var addr string
	var prog audit.ProgressDoc
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no progress past 5120 packets within 20 s; stderr:\n%s\nlast progress: %+v", stderr.String(), prog)
		}
		if addr == "" {
			if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
				addr = m[1]
			}
		}
		if addr != "" {
			code, body := httpGet(t, "http://"+addr+"/debug/vars")
			if code != http.StatusOK {
				t.Fatalf("/debug/vars: status %d: %s", code, body)
			}
			var vars struct {
				Pcapaudit audit.ProgressDoc `json:"pcapaudit"`
				Memstats  map[string]any    `json:"memstats"`
				Cmdline   []string          `json:"cmdline"`
			}
			if err := json.Unmarshal([]byte(body), &vars); err != nil {
				t.Fatalf("/debug/vars is not JSON: %v\n%s", err, body)
			}
			if vars.Memstats["HeapAlloc"] == nil || len(vars.Cmdline) == 0 {
				t.Errorf("/debug/vars lacks expvar's memstats or cmdline:\n%.300s", body)
			}
			prog = vars.Pcapaudit
			if prog.Packets >= 5120 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if prog.File != "-" || prog.Files != 1 || prog.FilesDone != 0 {
		t.Errorf("progress names file %q, %d/%d files done; want \"-\", 0/1", prog.File, prog.FilesDone, prog.Files)
	}
	if prog.Packets > uint64(len(pkts)) || prog.Bytes == 0 || prog.Bytes > uint64(len(data)) {
		t.Errorf("progress: %d packets, %d bytes; the capture has %d packets in %d bytes", prog.Packets, prog.Bytes, len(pkts), len(data))
	}
	if prog.CaptureTime == nil || prog.CaptureTime.Before(hostileT0) || prog.CaptureTime.After(lastTime) {
		t.Errorf("progress capture_time %v, want within the capture (%v to %v)", prog.CaptureTime, hostileT0, lastTime)
	}
	code, body := httpGet(t, "http://"+addr+"/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
		t.Errorf("/debug/pprof/: status %d, body:\n%.500s", code, body)
	}
	// The goroutine dump shows the audit waiting for input.
	if code, body = httpGet(t, "http://"+addr+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "runAudit") {
		t.Errorf("/debug/pprof/goroutine: status %d, no runAudit in:\n%.1000s", code, body)
	}
	if code, _ = httpGet(t, "http://"+addr+"/debug/pprof/heap"); code != http.StatusOK {
		t.Errorf("/debug/pprof/heap: status %d", code)
	}

	if _, err := pw.Write(data[len(data)-100:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case c := <-done:
		if c != 0 {
			t.Fatalf("exit %d, want 0; stderr:\n%s", c, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the audit did not end when its input did")
	}
	if n := strings.Count(stdout.String(), `"dataset":"pcapaudit.flow"`); n != exchanges+1 {
		t.Errorf("%d flow documents, want %d", n, exchanges+1)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the debug server still listens on %s after the audit ended", addr)
	}
}

// TestDebugAddrRefused: an address that cannot be listened on is a usage error, named.
func TestDebugAddrRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	capture := repo + "/testdata/real/ntp-client.pcap"
	for _, addr := range []string{ln.Addr().String(), "not-an-address", "127.0.0.1:99999"} {
		r := runCmd(t, nil, "--debug-addr", addr, capture)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitError || len(lines) != 1 || !strings.Contains(lines[0], "--debug-addr") || !strings.Contains(lines[0], addr) || r.stdout != "" {
			t.Errorf("--debug-addr %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and one line naming the flag and the address", addr, r.code, r.stdout, r.stderr)
		}
	}
}
