//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// Hostile input: the shipped captures flipped, cut and lied about, and crafted captures of
// packets built to hurt (stacked VLAN tags, long IPv6 header chains, overlapping fragments,
// conflicting TCP retransmissions, empty and 64 KiB packets). Every audit runs as a child
// process, so a panic, a hang or a memory blow-up is seen as a user would see it: each must end
// within hostileTimeout, with exit code 0, 1 or 2, no stack trace, a peak RSS under
// hostileMaxRSS, and a one-line warning naming the file, byte and frame of any damage.

const (
	hostileChildEnv = "PCAPAUDIT_HOSTILE_CHILD"
	hostileTimeout  = 20 * time.Second
	hostileMaxRSS   = 300 << 20 // bytes
)

// TestHostileChild is the pcapaudit command itself when the hostile-input tests start this test
// binary as a child: the arguments after "--" are the command line.
func TestHostileChild(t *testing.T) {
	if os.Getenv(hostileChildEnv) != "1" {
		t.Skip("the pcapaudit command, run as a child process by the hostile-input tests")
	}
	os.Exit(run(context.Background(), flag.Args(), os.Stdin, os.Stdout, os.Stderr))
}

type hostileResult struct {
	code           int
	stdout, stderr string
	rss            int64 // peak resident set size, bytes
}

// hostileRun runs pcapaudit with args in a child process and returns what went wrong by the
// rules every run must follow, hostile input or not: an end within the timeout, exit 0, 1 or 2,
// no panic or stack trace on stderr, no detector failure recovered, and bounded memory.
func hostileRun(t *testing.T, args ...string) (r hostileResult, problems []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), hostileTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, append([]string{"-test.run=^TestHostileChild$", "--"}, args...)...)
	// The race detector sleeps a second at exit unless told otherwise.
	cmd.Env = append(os.Environ(), hostileChildEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	r = hostileResult{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() == context.DeadlineExceeded {
		return r, []string{fmt.Sprintf("no result after %v: the audit hangs\nstderr: %s", hostileTimeout, hostileTail(r.stderr))}
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		return r, []string{fmt.Sprintf("%v\nstderr: %s", err, hostileTail(r.stderr))}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss << 10 // KiB on Linux
	}
	if r.code != 0 && r.code != 1 && r.code != 2 {
		problems = append(problems, fmt.Sprintf("exit code %d, want 0, 1 or 2\nstderr: %s", r.code, hostileTail(r.stderr)))
	}
	for _, s := range []string{"panic", "goroutine ", "DATA RACE"} {
		if strings.Contains(r.stderr, s) {
			problems = append(problems, fmt.Sprintf("%q on stderr:\n%s", s, hostileTail(r.stderr)))
		}
	}
	if strings.Contains(r.stdout, "detector failures recovered") {
		problems = append(problems, "a detector panicked (recovered by the engine):\n"+r.stdout)
	}
	if r.rss > hostileMaxRSS {
		problems = append(problems, fmt.Sprintf("peak RSS %d MiB, want at most %d MiB", r.rss>>20, hostileMaxRSS>>20))
	}
	return r, problems
}

// hostileAudit is hostileRun failing the test on any problem.
func hostileAudit(t *testing.T, what string, args ...string) hostileResult {
	t.Helper()
	r, problems := hostileRun(t, args...)
	for _, p := range problems {
		t.Errorf("%s: %s", what, p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
	t.Logf("%s: exit %d, peak RSS %d MiB", what, r.code, r.rss>>20)
	return r
}

// hostileBatch audits many files in one child (starting a child costs more than auditing a
// small capture). When that run breaks a rule, every file is audited alone to name the culprit.
func hostileBatch(t *testing.T, what string, flags, files []string) hostileResult {
	t.Helper()
	r, problems := hostileRun(t, append(flags, files...)...)
	if len(problems) == 0 {
		t.Logf("%s: %d files, exit %d, peak RSS %d MiB", what, len(files), r.code, r.rss>>20)
		return r
	}
	alone := false
	for _, f := range files {
		_, ps := hostileRun(t, append(flags, f)...)
		for _, p := range ps {
			alone = true
			t.Errorf("%s: %s", f, p)
		}
	}
	if !alone {
		for _, p := range problems {
			t.Errorf("%s (%d files together, each alone is fine): %s", what, len(files), p)
		}
	}
	t.FailNow()
	return r
}

func hostileTail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// hostileLog is one record of the JSON log the command writes on stderr when it is not a terminal.
type hostileLog struct {
	Level   string `json:"level"`
	File    string `json:"file"`
	Message string `json:"message"`
}

func hostileLogLines(t *testing.T, what, stderr string) []hostileLog {
	t.Helper()
	var ls []hostileLog
	for _, s := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if s == "" {
			continue
		}
		var l hostileLog
		if err := json.Unmarshal([]byte(s), &l); err != nil || l.Level == "" || l.Message == "" {
			t.Errorf("%s: stderr line is not a log record: %q", what, s)
			continue
		}
		ls = append(ls, l)
	}
	return ls
}

// hostileMutant is a damaged copy of a capture and the log line its damage must cause.
type hostileMutant struct {
	name  string
	data  []byte
	level string // "warn" or "error"; "" for no log line at all; "?" for any or none
	want  string // what the line must contain, after the file name
}

// pcapRecords returns the offsets of the record headers of a pcap file, their captured lengths
// and the byte order, or nil when data is not a complete pcap file.
func hostilePcapRecords(data []byte) (offs, lens []int, bo binary.ByteOrder) {
	if len(data) < 24 {
		return nil, nil, nil
	}
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, nil, nil
	}
	for off := 24; off+16 <= len(data); {
		n := int(bo.Uint32(data[off+8:]))
		if off+16+n > len(data) {
			return nil, nil, nil
		}
		offs, lens = append(offs, off), append(lens, n)
		off += 16 + n
	}
	return offs, lens, bo
}

// ngPackets returns the offsets of the enhanced packet blocks of a little-endian pcapng file.
func hostileNgPackets(data []byte) []int {
	var offs []int
	for off := 0; off+12 <= len(data); {
		typ, n := binary.LittleEndian.Uint32(data[off:]), int(binary.LittleEndian.Uint32(data[off+4:]))
		if n < 12 || off+n > len(data) {
			return nil
		}
		if typ == 6 {
			offs = append(offs, off)
		}
		off += n
	}
	return offs
}

func hostileAt(off, frame int) string {
	return "truncated capture at byte " + strconv.Itoa(off) + " (frame " + strconv.Itoa(frame) + "): "
}

func hostileClone(b []byte) []byte { return append([]byte(nil), b...) }

// flip xors n bytes at random places with random non-zero values.
func hostileFlip(data []byte, seed uint64, n int) []byte {
	b := hostileClone(data)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for range n {
		b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
	}
	return b
}

// mutants returns the damaged copies of one pcap capture, and of its pcapng conversion.
func hostileMutants(t *testing.T, base string, data []byte) []hostileMutant {
	t.Helper()
	offs, lens, bo := hostilePcapRecords(data)
	if len(offs) < 2 {
		t.Fatalf("%s: not a pcap file of at least two records", base)
	}
	mid := len(offs) / 2
	var ms []hostileMutant
	add := func(kind string, b []byte, level, want string) {
		ms = append(ms, hostileMutant{name: base + "." + kind, data: b, level: level, want: want})
	}
	for i, n := range []int{1, 3, 16, 64} {
		add("flip"+strconv.Itoa(n), hostileFlip(data, uint64(i+1), n), "?", "")
	}
	add("cut0", nil, "error", "empty file")
	add("cut3", data[:3], "error", "not a capture file")
	add("cut13", data[:13], "error", "pcap file header cut short")
	add("cut24", data[:24], "", "")
	add("cut31", data[:31], "warn", hostileAt(24, 1)+"record header cut short: 7 of 16 bytes")
	add("cut-mid-header", data[:offs[mid]+9], "warn", hostileAt(offs[mid], mid+1)+"record header cut short")
	if n := lens[mid]; n >= 2 {
		add("cut-mid-record", data[:offs[mid]+16+n/2], "warn",
			hostileAt(offs[mid], mid+1)+"record data cut short: "+strconv.Itoa(n/2)+" of "+strconv.Itoa(n)+" bytes")
	}
	add("cut-at-record", data[:offs[mid]], "", "")
	last := len(offs) - 1
	add("cut-last-byte", data[:len(data)-1], "warn", hostileAt(offs[last], last+1)+"record data cut short")

	b := hostileClone(data)
	bo.PutUint32(b[offs[mid]+8:], 0xFFFFFFF0)
	add("caplen-absurd", b, "warn", hostileAt(offs[mid], mid+1)+"record claims 4294967280 captured bytes")
	b = hostileClone(data)
	bo.PutUint32(b[offs[mid]+12:], 0xFFFFFFF0) // an absurd length on the wire alone is harmless
	add("wirelen-absurd", b, "", "")
	b = hostileClone(data)
	bo.PutUint32(b[offs[mid]+12:], 0)
	add("wirelen-zero", b, "warn", hostileAt(offs[mid], mid+1)+"record header claims")

	z := gz(data)
	add("gz-cut", z[:len(z)/2], "?", "")
	add("gz-flip", hostileFlip(z, 7, 2), "?", "")

	ng := hostilePcapng(t, data)
	eps := hostileNgPackets(ng)
	if len(eps) != len(offs) {
		t.Fatalf("%s: pcapng conversion has %d packets, want %d", base, len(eps), len(offs))
	}
	for i, n := range []int{2, 12} {
		add("ng.flip"+strconv.Itoa(n), hostileFlip(ng, uint64(100+i), n), "?", "")
	}
	e := eps[mid]
	add("ng.cut-mid-block", ng[:e+20], "warn", hostileAt(e, mid+1)+"block cut short")
	b = hostileClone(ng)
	binary.LittleEndian.PutUint32(b[e+4:], 0xFFFFFFF0)
	add("ng.blocklen-absurd", b, "warn", hostileAt(e, mid+1))
	b = hostileClone(ng)
	binary.LittleEndian.PutUint32(b[e+20:], 0xFFFFFFF0)
	add("ng.caplen-absurd", b, "warn", hostileAt(e, mid+1))
	return ms
}

// toPcapng rewrites a pcap file as pcapng, packet for packet.
func hostilePcapng(t *testing.T, data []byte) []byte {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestHostileDamagedCaptures audits, in one child per capture, every shipped capture flipped
// at random (seeded), cut at every kind of place, and with absurd record lengths, as pcap,
// pcapng and gzip. Each damaged file must be audited up to its damage, with one log line that
// names the file and, for a cut or a lying record, the byte and the frame where it starts.
func TestHostileDamagedCaptures(t *testing.T) {
	all := captures(t)
	const perChild = 6
	for g := 0; g < len(all); g += perChild {
		group := all[g:min(g+perChild, len(all))]
		t.Run(fmt.Sprintf("captures-%d-%d", g+1, g+len(group)), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var ms []hostileMutant
			for _, c := range group {
				data, err := os.ReadFile(c)
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, hostileMutants(t, filepath.Base(filepath.Dir(c))+"-"+filepath.Base(c), data)...)
			}
			var files []string
			byPath := map[string]*hostileMutant{}
			for i := range ms {
				p := filepath.Join(dir, ms[i].name)
				if err := os.WriteFile(p, ms[i].data, 0o644); err != nil {
					t.Fatal(err)
				}
				byPath[p] = &ms[i]
				files = append(files, p)
			}
			base := "damaged copies"
			r := hostileBatch(t, base, []string{"--fail-on", "none", "--color", "never"}, files)
			seen := map[string]hostileLog{}
			errs := 0
			for _, l := range hostileLogLines(t, base, r.stderr) {
				if _, ok := byPath[l.File]; !ok {
					t.Errorf("log line names no input file: %+v", l)
					continue
				}
				if _, dup := seen[l.File]; dup {
					t.Errorf("%s: more than one log line: %q", filepath.Base(l.File), l.Message)
				}
				seen[l.File] = l
				if !strings.HasPrefix(l.Message, l.File+": ") {
					t.Errorf("%s: message does not start with the file name: %q", filepath.Base(l.File), l.Message)
				}
				if l.Level == "error" {
					errs++
				} else if l.Level != "warn" {
					t.Errorf("%s: level %q: %q", filepath.Base(l.File), l.Level, l.Message)
				}
			}
			for p, m := range byPath {
				l, logged := seen[p]
				switch {
				case m.level == "?":
				case m.level == "" && logged:
					t.Errorf("%s: unexpected %s: %q", m.name, l.Level, l.Message)
				case m.level == "":
				case !logged:
					t.Errorf("%s: no %s logged, want one containing %q", m.name, m.level, m.want)
				case l.Level != m.level || !strings.Contains(l.Message, m.want):
					t.Errorf("%s: logged %s %q, want %s containing %q", m.name, l.Level, l.Message, m.level, m.want)
				}
			}
			if want := map[bool]int{true: 2, false: 0}[errs > 0]; r.code != want {
				t.Errorf("exit %d with %d unreadable files, want %d", r.code, errs, want)
			}
			if want := fmt.Sprintf("read     %d of %d file(s)", len(ms)-errs, len(ms)); !strings.Contains(r.stdout, want) {
				t.Errorf("report does not say %q:\n%s", want, r.stdout)
			}
			for p, l := range seen {
				if l.Level == "warn" && !strings.Contains(r.stdout, "warning  "+l.Message) {
					t.Errorf("%s: the report does not carry the warning %q", filepath.Base(p), l.Message)
				}
			}
		})
	}
}

// hostileFlows returns the flow documents of an NDJSON report.
func hostileFlows(t *testing.T, what, ndjson string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(ndjson), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("%s: output is not NDJSON: %v: %q", what, err, line)
		}
		flat := map[string]any{}
		flatten("", doc, flat)
		if flat["event.dataset"] == "pcapaudit.flow" {
			docs = append(docs, doc)
		}
	}
	return docs
}

// hostileGet returns the value at a dotted path of a document, or nil.
func hostileGet(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// hostileFlowKeys is the set of protocol, transport and port pair of the flows of a report.
func hostileFlowKeys(t *testing.T, what, ndjson string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	for _, d := range hostileFlows(t, what, ndjson) {
		a, b := hostileGet(d, "source.port"), hostileGet(d, "destination.port")
		pa, _ := a.(float64)
		pb, _ := b.(float64)
		keys[fmt.Sprintf("%v %v %v-%v", hostileGet(d, "network.protocol"), hostileGet(d, "network.transport"),
			min(pa, pb), max(pa, pb))] = true
	}
	return keys
}

// TestHostileHeaderAndClock audits every shipped capture with a snap length of 0 in its file
// header (readers take it as "no limit": the report must not change at all) and with the
// timestamps of its second half running backwards, the last one in 1970 (every flow must
// still be recognised). All captures go to one child, compared with the originals audited
// together the same way.
func TestHostileHeaderAndClock(t *testing.T) {
	orig, snap0, clock := t.TempDir(), t.TempDir(), t.TempDir()
	var origs, snap0s, clocks []string
	write := func(dir, name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range captures(t) {
		name := filepath.Base(filepath.Dir(c)) + "-" + filepath.Base(c)
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		offs, _, bo := hostilePcapRecords(data)
		if len(offs) < 2 {
			t.Fatalf("%s: not a pcap file of at least two records", c)
		}
		origs = append(origs, write(orig, name, data))

		b := hostileClone(data)
		bo.PutUint32(b[16:], 0)
		snap0s = append(snap0s, write(snap0, name, b))

		b = hostileClone(data)
		mid := len(offs) / 2
		sec := bo.Uint32(b[offs[mid-1]:])
		for i, off := range offs[mid:] {
			bo.PutUint32(b[off:], sec-uint32(i+1))
		}
		bo.PutUint32(b[offs[len(offs)-1]:], 0)
		clocks = append(clocks, write(clock, name, b))
	}
	flags := []string{"--format", "json", "--all", "--fail-on", "none"}
	want := runCmd(t, nil, append(flags, origs...)...)
	if want.code != 0 {
		t.Fatalf("the original captures: exit %d: %s", want.code, want.stderr)
	}
	wantOut := strings.ReplaceAll(want.stdout, orig, "DIR")

	t.Run("snaplen-0", func(t *testing.T) {
		t.Parallel()
		r := hostileBatch(t, "snap length 0", flags, snap0s)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		if got := strings.ReplaceAll(r.stdout, snap0, "DIR"); got != wantOut {
			t.Errorf("a snap length of 0 changes the report:\n%s", diff(wantOut, got))
		}
	})
	t.Run("timestamps-backwards", func(t *testing.T) {
		t.Parallel()
		r := hostileBatch(t, "timestamps going backwards", flags, clocks)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		got := hostileFlowKeys(t, "timestamps going backwards", r.stdout)
		for k := range hostileFlowKeys(t, "originals", want.stdout) {
			if !got[k] {
				t.Errorf("flow %s is no longer reported", k)
			}
		}
	})
}
