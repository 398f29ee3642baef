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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pcapaudit/pcapaudit/internal/encap"
)

// Hostile input: the shipped captures flipped, cut and lied about, and crafted captures of
// packets built to hurt (stacked VLAN tags, long IPv6 header chains, overlapping fragments,
// conflicting TCP retransmissions, empty and 64 KiB packets). Every audit runs as a child
// process, so a panic, a hang or a memory blow-up is seen as a user would see it: each must end
// within hostileTimeout, with exit code 0, 1 or 2, no stack trace, a peak RSS under
// hostileMaxRSS, and a one-line warning naming the file, byte and frame of any damage.

const (
	hostileChildEnv = "PCAPAUDIT_HOSTILE_CHILD"
	hostileRSSEnv   = "PCAPAUDIT_HOSTILE_RSS" // where the child writes its peak RSS, in KiB
	hostileTimeout  = 20 * time.Second
	hostileMaxRSS   = 300 << 20 // bytes
)

// TestHostileChild is the pcapaudit command itself when the hostile-input tests start this test
// binary as a child: the arguments after "--" are the command line.
func TestHostileChild(t *testing.T) {
	if os.Getenv(hostileChildEnv) != "1" {
		t.Skip("the pcapaudit command, run as a child process by the hostile-input tests")
	}
	code := run(context.Background(), flag.Args(), os.Stdin, os.Stdout, os.Stderr)
	// The peak RSS of this process image. The parent cannot take it from the rusage of its
	// child: on Linux that starts from the parent's own peak, as the child was forked from it.
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				os.WriteFile(os.Getenv(hostileRSSEnv), []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))), 0o644)
			}
		}
	}
	os.Exit(code)
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
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd.Env = append(os.Environ(), hostileChildEnv+"=1", hostileRSSEnv+"="+rssFile,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
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
	kib, err := os.ReadFile(rssFile)
	if err != nil {
		return r, []string{"the child did not report its peak RSS: " + err.Error()}
	}
	if r.rss, err = strconv.ParseInt(string(kib), 10, 64); err != nil {
		return r, []string{fmt.Sprintf("peak RSS %q: %v", kib, err)}
	}
	r.rss <<= 10
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
			// A file may log a line for its damage at the file level (cut short, unreadable) and
			// one for the packets in it that could not be decoded.
			seen := map[string][]hostileLog{}
			errs := 0
			for _, l := range hostileLogLines(t, base, r.stderr) {
				if _, ok := byPath[l.File]; !ok {
					t.Errorf("log line names no input file: %+v", l)
					continue
				}
				if len(seen[l.File]) == 2 {
					t.Errorf("%s: more than two log lines: %q", filepath.Base(l.File), l.Message)
				}
				seen[l.File] = append(seen[l.File], l)
				if !strings.HasPrefix(l.Message, l.File+": ") {
					t.Errorf("%s: message does not start with the file name: %q", filepath.Base(l.File), l.Message)
				}
				if l.Level == "error" {
					errs++
				} else if l.Level != "warn" {
					t.Errorf("%s: level %q: %q", filepath.Base(l.File), l.Level, l.Message)
				}
				if strings.Contains(l.Message, "could not be decoded") && !regexp.MustCompile(`: \d+ packet\(s\) could not be decoded, the first at frame \d+ \(`).MatchString(l.Message) {
					t.Errorf("%s: the undecodable packets are not located: %q", filepath.Base(l.File), l.Message)
				}
			}
			for p, m := range byPath {
				ls := seen[p]
				match := slices.ContainsFunc(ls, func(l hostileLog) bool { return l.Level == m.level && strings.Contains(l.Message, m.want) })
				switch {
				case m.level == "?":
				case m.level == "" && len(ls) > 0:
					t.Errorf("%s: unexpected %s: %q", m.name, ls[0].Level, ls[0].Message)
				case m.level == "":
				case len(ls) == 0:
					t.Errorf("%s: no %s logged, want one containing %q", m.name, m.level, m.want)
				case !match:
					t.Errorf("%s: logged %+v, want %s containing %q", m.name, ls, m.level, m.want)
				}
			}
			if want := map[bool]int{true: 2, false: 0}[errs > 0]; r.code != want {
				t.Errorf("exit %d with %d unreadable files, want %d", r.code, errs, want)
			}
			if want := fmt.Sprintf("read     %d of %d file(s)", len(ms)-errs, len(ms)); !strings.Contains(r.stdout, want) {
				t.Errorf("report does not say %q:\n%s", want, r.stdout)
			}
			for p, ls := range seen {
				for _, l := range ls {
					if l.Level == "warn" && !strings.Contains(r.stdout, "warning  "+l.Message) {
						t.Errorf("%s: the report does not carry the warning %q", filepath.Base(p), l.Message)
					}
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

// Crafted packets. Every address is on the loopback: 127.0.0.1 and 127.0.0.2, or ::1.

var (
	hostileA = [4]byte{127, 0, 0, 1}
	hostileB = [4]byte{127, 0, 0, 2}
)

func hostileBE16(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }

// hostileEth frames payload in Ethernet with n stacked 802.1Q tags.
func hostileEth(tags int, etherType int, payload []byte) []byte {
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	for i := range tags {
		b = hostileBE16(b, 0x8100)
		b = hostileBE16(b, 100+i) // VLAN ID
	}
	b = hostileBE16(b, etherType)
	return append(b, payload...)
}

// hostileIPv4 builds an IPv4 header for payload; fragOff is in bytes. A total length above
// 65535 is written as 0, as segmentation offload leaves it.
func hostileIPv4(src, dst [4]byte, proto byte, id, fragOff int, more bool, payload []byte) []byte {
	total := 20 + len(payload)
	if total > 65535 {
		total = 0
	}
	fo := fragOff / 8
	if more {
		fo |= 0x2000
	}
	h := []byte{0x45, 0}
	h = hostileBE16(h, total)
	h = hostileBE16(h, id)
	h = hostileBE16(h, fo)
	h = append(h, 64, proto, 0, 0)
	h = append(append(h, src[:]...), dst[:]...)
	encap.SetIPv4Checksum(h)
	return append(h, payload...)
}

// hostileIPv6 builds an IPv6 packet from ::1 to ::1 whose extension headers have the given
// types (8 bytes each, PadN-filled), then the upper-layer protocol proto. A payload length above
// 65535 is written as 0, as in a jumbogram.
func hostileIPv6(exts []byte, proto byte, upper []byte) []byte {
	var chain []byte
	for i := range exts {
		next := proto
		if i+1 < len(exts) {
			next = exts[i+1]
		}
		chain = append(chain, next, 0, 1, 4, 0, 0, 0, 0)
	}
	first := proto
	if len(exts) > 0 {
		first = exts[0]
	}
	plen := len(chain) + len(upper)
	if plen > 65535 {
		plen = 0
	}
	h := []byte{0x60, 0, 0, 0}
	h = hostileBE16(h, plen)
	h = append(h, first, 64)
	lo := [16]byte{15: 1}
	h = append(append(h, lo[:]...), lo[:]...)
	return append(append(h, chain...), upper...)
}

func hostileUDP(sport, dport int, payload []byte) []byte {
	n := 8 + len(payload)
	if n > 65535 {
		n = 0
	}
	h := hostileBE16(hostileBE16(nil, sport), dport)
	h = hostileBE16(hostileBE16(h, n), 0)
	return append(h, payload...)
}

const (
	hostileSYN = 0x02
	hostileFIN = 0x01
	hostilePSH = 0x08
	hostileACK = 0x10
)

func hostileTCP(sport, dport int, seq, ack uint32, flags byte, payload []byte) []byte {
	h := hostileBE16(hostileBE16(nil, sport), dport)
	h = binary.BigEndian.AppendUint32(h, seq)
	h = binary.BigEndian.AppendUint32(h, ack)
	h = append(h, 5<<4, flags)
	h = hostileBE16(h, 65535)
	h = append(h, 0, 0, 0, 0)
	return append(h, payload...)
}

// hostileNTP is a 48-byte NTPv4 header of the given mode.
func hostileNTP(mode byte) []byte {
	b := make([]byte, 48)
	b[0] = 4<<3 | mode
	b[2], b[3] = 6, 0xe9
	if mode == 4 {
		b[1] = 2
		copy(b[12:], []byte{127, 0, 0, 1})
		binary.BigEndian.PutUint32(b[16:], 0xed000000) // reference
		binary.BigEndian.PutUint32(b[24:], 0xed000010) // origin
		binary.BigEndian.PutUint32(b[32:], 0xed000011) // receive
	}
	binary.BigEndian.PutUint32(b[40:], 0xed000012) // transmit
	return b
}

// hostileLDAPBind is a simple bind request (message 1) for dn with a password of pwLen bytes.
func hostileLDAPBind(dn string, pwLen int) []byte {
	op := []byte{0x02, 0x01, 0x03, 0x04, byte(len(dn))}
	op = append(op, dn...)
	op = append(op, 0x80, byte(pwLen))
	op = append(op, bytes.Repeat([]byte{'p'}, pwLen)...)
	msg := append([]byte{0x02, 0x01, 0x01, 0x60, byte(len(op))}, op...)
	return append([]byte{0x30, byte(len(msg))}, msg...)
}

// hostileLDAPBindOK is the success response to message 1.
var hostileLDAPBindOK = []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}

// hostilePkt is one record: Length on the wire may exceed len(Data).
type hostilePkt struct {
	Data   []byte
	Length int
	Time   time.Time
}

// hostileCase is a crafted capture: the hostile packets, then a well-formed NTP exchange from
// 127.0.0.1:40123 that must be reported whatever came before.
type hostileCase struct {
	name  string
	pkts  []hostilePkt
	check func(t *testing.T, flows []map[string]any, text string)
	skip  string // why the case is skipped: a known bug
}

var hostileT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// hostileCapture appends the reference NTP exchange and gives the packets without a time one,
// a millisecond apart.
func hostileCapture(frames ...[]byte) []hostilePkt {
	frames = append(frames,
		hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, 1, 0, false, hostileUDP(40123, 123, hostileNTP(3)))),
		hostileEth(0, 0x0800, hostileIPv4(hostileB, hostileA, 17, 2, 0, false, hostileUDP(123, 40123, hostileNTP(4)))))
	pkts := make([]hostilePkt, len(frames))
	for i, f := range frames {
		pkts[i] = hostilePkt{Data: f, Length: len(f), Time: hostileT0.Add(time.Duration(i) * time.Millisecond)}
	}
	return pkts
}

func hostileWritePcap(t *testing.T, path string, pkts []hostilePkt) {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: max(p.Length, len(p.Data))}
		if err := w.WritePacket(ci, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hostileWritePcapng(t *testing.T, path string, pkts []hostilePkt) {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: max(p.Length, len(p.Data))}
		if err := w.WritePacket(ci, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostileFlow returns the flow from srcIP:srcPort, or nil.
func hostileFlow(flows []map[string]any, srcIP string, srcPort int) map[string]any {
	for _, f := range flows {
		if hostileGet(f, "source.ip") == srcIP && hostileGet(f, "source.port") == float64(srcPort) {
			return f
		}
	}
	return nil
}

// hostileWantFlow fails unless the flow from srcIP:srcPort is reported with the label.
func hostileWantFlow(t *testing.T, flows []map[string]any, srcIP string, srcPort int, label string) map[string]any {
	t.Helper()
	f := hostileFlow(flows, srcIP, srcPort)
	if f == nil {
		t.Errorf("no flow from %s port %d in the report", srcIP, srcPort)
		return nil
	}
	if got := hostileGet(f, "network.protocol"); got != label {
		t.Errorf("flow from %s port %d is %v, want %s", srcIP, srcPort, got, label)
	}
	return f
}

func hostileWantNote(t *testing.T, text, note string) {
	t.Helper()
	if !strings.Contains(text, note) {
		t.Errorf("the report does not say %q:\n%s", note, text)
	}
}

// hostileIPv6Frag is a fragment of an IPv6 datagram from ::1 to ::1 carrying UDP.
func hostileIPv6Frag(id uint32, off int, more bool, data []byte) []byte {
	fo := off &^ 7
	if more {
		fo |= 1
	}
	fh := hostileBE16([]byte{17, 0}, fo)
	fh = binary.BigEndian.AppendUint32(fh, id)
	h := hostileIPv6(nil, 44, append(fh, data...))
	return h
}

// hostileTCPFlow is a TCP connection from 127.0.0.1:sport to 127.0.0.2:dport: the handshake,
// then the segments (client data at relative sequence numbers), the server's data, and FINs.
type hostileSeg struct {
	off  int // relative to the first data byte of the client
	data []byte
}

func hostileTCPFlow(sport, dport int, client []hostileSeg, server []byte, clientLen int) [][]byte {
	const isnC, isnS = 1000, 5000
	c := func(seq, ack uint32, fl byte, p []byte) []byte {
		return hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 6, sport, 0, false, hostileTCP(sport, dport, seq, ack, fl, p)))
	}
	s := func(seq, ack uint32, fl byte, p []byte) []byte {
		return hostileEth(0, 0x0800, hostileIPv4(hostileB, hostileA, 6, dport, 0, false, hostileTCP(dport, sport, seq, ack, fl, p)))
	}
	f := [][]byte{c(isnC, 0, hostileSYN, nil), s(isnS, isnC+1, hostileSYN|hostileACK, nil), c(isnC+1, isnS+1, hostileACK, nil)}
	for _, sg := range client {
		f = append(f, c(isnC+1+uint32(sg.off), isnS+1, hostilePSH|hostileACK, sg.data))
	}
	end := uint32(isnC + 1 + clientLen)
	f = append(f, s(isnS+1, end, hostilePSH|hostileACK, server),
		c(end, isnS+1+uint32(len(server)), hostileFIN|hostileACK, nil),
		s(isnS+1+uint32(len(server)), end+1, hostileFIN|hostileACK, nil))
	return f
}

func hostileCases() []hostileCase {
	v4 := func(src, dst [4]byte, sport, dport int, p []byte) []byte {
		return hostileEth(0, 0x0800, hostileIPv4(src, dst, 17, sport, 0, false, hostileUDP(sport, dport, p)))
	}
	var cs []hostileCase

	// Ten stacked VLAN tags: beyond the eight the decoder reads. Eight still decode.
	vlan10 := hostileEth(10, 0x0800, hostileIPv4(hostileA, hostileB, 17, 3, 0, false, hostileUDP(40124, 123, hostileNTP(3))))
	cs = append(cs, hostileCase{name: "vlan-stack", pkts: hostileCapture(
		vlan10,
		vlan10[:12+4*7+2], // cut inside the stack
		hostileEth(8, 0x0800, hostileIPv4(hostileA, hostileB, 17, 4, 0, false, hostileUDP(40125, 123, hostileNTP(3)))),
		hostileEth(8, 0x0800, hostileIPv4(hostileB, hostileA, 17, 5, 0, false, hostileUDP(123, 40125, hostileNTP(4)))),
	), check: func(t *testing.T, flows []map[string]any, text string) {
		hostileWantFlow(t, flows, "127.0.0.1", 40125, "ntp")
		hostileWantNote(t, text, "packets not decodable")
	}})

	// Long IPv6 extension header chains: 32 headers, 200 headers, one whose length runs past
	// the packet; 16 headers still decode.
	alt := func(n int) []byte {
		e := make([]byte, n)
		for i := range e {
			e[i] = []byte{0, 60}[i%2]
		}
		return e
	}
	past := hostileIPv6(alt(4), 17, hostileUDP(40129, 123, hostileNTP(3)))
	past[40+3*8+1] = 255 // the fourth header claims 2 KiB
	cs = append(cs, hostileCase{name: "ipv6-extension-chain", pkts: hostileCapture(
		hostileEth(0, 0x86dd, hostileIPv6(alt(32), 17, hostileUDP(40126, 123, hostileNTP(3)))),
		hostileEth(0, 0x86dd, hostileIPv6(alt(200), 17, hostileUDP(40128, 123, hostileNTP(3)))),
		hostileEth(0, 0x86dd, past),
		hostileEth(0, 0x86dd, hostileIPv6(alt(16), 17, hostileUDP(40127, 123, hostileNTP(3)))),
		hostileEth(0, 0x86dd, hostileIPv6(alt(16), 17, hostileUDP(123, 40127, hostileNTP(4)))),
	), check: func(t *testing.T, flows []map[string]any, text string) {
		hostileWantFlow(t, flows, "::1", 40127, "ntp")
		hostileWantNote(t, text, "packets not decodable")
	}})

	// Overlapping IP fragments: a conflicting copy of the NTP mode byte (mode 7) overlaps the
	// first fragment and must be refused; the datagram completes with the first bytes. Also a
	// fragment beyond 64 KiB, a flood of duplicates and a datagram of too many fragments.
	udp4 := hostileUDP(40130, 123, hostileNTP(3))
	evil4 := hostileClone(udp4[8:24])
	evil4[0] = 4<<3 | 7
	frag4 := func(id, off int, more bool, data []byte) []byte {
		return hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, id, off, more, data))
	}
	udp6 := hostileUDP(40131, 123, hostileNTP(3))
	evil6 := hostileClone(udp6[8:24])
	evil6[0] = 4<<3 | 7
	frames := [][]byte{
		frag4(0x1001, 0, true, udp4[:16]),
		frag4(0x1001, 8, true, evil4),
		frag4(0x1001, 16, false, udp4[16:]),
		v4(hostileB, hostileA, 123, 40130, hostileNTP(4)),
		hostileEth(0, 0x86dd, hostileIPv6Frag(0x2001, 0, true, udp6[:16])),
		hostileEth(0, 0x86dd, hostileIPv6Frag(0x2001, 8, true, evil6)),
		hostileEth(0, 0x86dd, hostileIPv6Frag(0x2001, 16, false, udp6[16:])),
		hostileEth(0, 0x86dd, hostileIPv6(nil, 17, hostileUDP(123, 40131, hostileNTP(4)))),
		frag4(0x1002, 0, true, udp4[:16]),
		frag4(0x1002, 65528, false, make([]byte, 24)), // ends beyond 64 KiB
	}
	for range 50 {
		frames = append(frames, frag4(0x1003, 0, true, udp4[:8]))
	}
	for i := range 70 {
		frames = append(frames, frag4(0x1004, 8*i, true, udp4[:8]))
	}
	cs = append(cs, hostileCase{name: "ip-fragment-overlaps", pkts: hostileCapture(frames...),
		check: func(t *testing.T, flows []map[string]any, text string) {
			for _, src := range []struct {
				ip   string
				port int
			}{{"127.0.0.1", 40130}, {"::1", 40131}} {
				f := hostileWantFlow(t, flows, src.ip, src.port, "ntp")
				if f == nil {
					continue
				}
				if m := hostileGet(f, "ntp.mode"); m != float64(3) {
					t.Errorf("flow from %s port %d: ntp.mode %v, want 3 (the first fragment's byte)", src.ip, src.port, m)
				}
				if ms, _ := hostileGet(f, "ntp.modes").([]any); len(ms) == 0 || slicesContains(ms, float64(7)) {
					t.Errorf("flow from %s port %d: ntp.modes %v: the refused overlapping fragment was used", src.ip, src.port, ms)
				}
			}
			hostileWantNote(t, text, "IP fragments dropped")
		}})

	// Conflicting TCP overlaps: retransmissions of a bind request that carry other bytes. The
	// bytes seen first are the ones inspected: the bind is reported with the first DN.
	dn, evilDN := "cn=admin,dc=example,dc=org", "cn=mallo,dc=EXAMPLE,dc=org"
	bind, evil := hostileLDAPBind(dn, 9), hostileLDAPBind(evilDN, 9)
	mixed := append(append(hostileClone(evil[10:20]), bind[20:40]...), bytes.Repeat([]byte{'x'}, 5)...)
	ldap1 := hostileTCPFlow(40200, 389, []hostileSeg{
		{0, bind[:20]},
		{0, evil[:20]},  // same sequence numbers, other bytes
		{10, mixed},     // overlaps the first segment with other bytes, then new bytes
		{40, bind[40:]}, // overlaps the 'x' bytes
		{30, evil[30:]}, // entirely old bytes, other content
	}, hostileLDAPBindOK, len(bind))
	cs = append(cs, hostileCase{name: "tcp-conflicting-overlaps", pkts: hostileCapture(ldap1...),
		check: func(t *testing.T, flows []map[string]any, text string) {
			hostileWantBindDN(t, flows, 40200, dn)
		}})
	// The same with the conflict against a segment that arrived out of order and waits.
	cs = append(cs, hostileCase{name: "tcp-conflicting-overlap-out-of-order", pkts: hostileCapture(hostileTCPFlow(40201, 389, []hostileSeg{
		{20, bind[20:]}, // out of order: waits for the first bytes
		{0, evil[:30]},  // the first bytes, and other bytes where they overlap the waiting segment
	}, hostileLDAPBindOK, len(bind))...),
		check: func(t *testing.T, flows []map[string]any, text string) {
			// Bytes 0-19 of the bind exist only in the in-order copy (the DN starts at byte
			// 12: "cn=mallo" is its); from byte 20 on the waiting segment was seen first and
			// wins over the in-order copy's "dc=EXAMPLE".
			hostileWantBindDN(t, flows, 40201, "cn=mallo,dc=example,dc=org")
		}})

	// Zero-length and nearly empty records.
	cs = append(cs, hostileCase{name: "zero-length", pkts: func() []hostilePkt {
		ps := hostileCapture(
			nil,
			nil,
			[]byte{2},
			hostileEth(0, 0x0800, nil),
			hostileEth(0, 0x0800, make([]byte, 19)),
			hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, 9, 0, false, nil)),
			hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 6, 9, 0, false, make([]byte, 19))),
			hostileEth(0, 0x86dd, nil),
		)
		ps[1].Length = 1514 // nothing captured of a full-size frame
		return ps
	}(), check: func(t *testing.T, flows []map[string]any, text string) {
		hostileWantNote(t, text, "packets not decodable")
	}})

	// 64 KiB packets, and records of the largest size a reader takes (256 KiB) whose IP and
	// UDP lengths are 0, as segmentation offload and IPv6 jumbograms leave them.
	ntpBig := append(hostileNTP(3), make([]byte, 65535-20-8-48)...)
	sipBig := []byte("OPTIONS sip:probe@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:40141;branch=z9hG4bK1\r\n" +
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.2>\r\nCall-ID: 1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nX-Pad: ")
	sipBig = append(sipBig, bytes.Repeat([]byte{'a'}, 65535-20-8-len(sipBig)-4)...)
	sipBig = append(sipBig, "\r\n\r\n"...)
	bigDN := strings.Repeat("a", 65535-20-20-64)
	ldapBig := []byte{0x30, 0x84, 0, 0, 0, 0, 0x02, 0x01, 0x01, 0x60, 0x84, 0, 0, 0, 0, 0x02, 0x01, 0x03, 0x04, 0x82}
	ldapBig = hostileBE16(ldapBig, len(bigDN))
	ldapBig = append(append(ldapBig, bigDN...), 0x80, 0)
	binary.BigEndian.PutUint32(ldapBig[2:], uint32(len(ldapBig)-6))
	binary.BigEndian.PutUint32(ldapBig[11:], uint32(len(ldapBig)-15))
	jumbo4 := hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, 10, 0, false,
		hostileUDP(40143, 123, append(hostileNTP(3), make([]byte, 262144-14-20-8-48)...))))
	jumbo6 := hostileEth(0, 0x86dd, hostileIPv6(nil, 17, hostileUDP(40144, 123, append(hostileNTP(3), make([]byte, 262144-14-40-8-48)...))))
	frames = [][]byte{
		v4(hostileA, hostileB, 40140, 123, ntpBig),
		v4(hostileA, hostileB, 40141, 5060, sipBig),
		jumbo4,
		jumbo6,
	}
	frames = append(frames, hostileTCPFlow(40142, 389, []hostileSeg{{0, ldapBig}}, hostileLDAPBindOK, len(ldapBig))...)
	cs = append(cs, hostileCase{name: "64k-packets", pkts: hostileCapture(frames...),
		check: func(t *testing.T, flows []map[string]any, text string) {
			if len(ntpBig)+28 != 65535 || len(sipBig)+28 != 65535 || len(jumbo4) != 262144 || len(jumbo6) != 262144 {
				t.Fatalf("sizes %d %d %d %d", len(ntpBig)+28, len(sipBig)+28, len(jumbo4), len(jumbo6))
			}
		}})

	// A clock that jumps: a response an hour before its request, packets in 1970 and 2106.
	ps := hostileCapture(
		v4(hostileA, hostileB, 40150, 123, hostileNTP(3)),
		v4(hostileB, hostileA, 123, 40150, hostileNTP(4)),
		v4(hostileA, hostileB, 40151, 123, hostileNTP(3)),
		v4(hostileA, hostileB, 40152, 123, hostileNTP(3)),
	)
	ps[0].Time = hostileT0.Add(time.Hour)
	ps[1].Time = hostileT0.Add(-time.Hour)
	ps[2].Time = time.Unix(0, 0)
	ps[3].Time = time.Unix(1<<32-1, 0)
	cs = append(cs, hostileCase{name: "clock-jumps", pkts: ps,
		check: func(t *testing.T, flows []map[string]any, text string) {
			hostileWantFlow(t, flows, "127.0.0.1", 40150, "ntp")
		}})
	// Hostile tunnels: GRE in GRE a thousand deep, a VXLAN header cut short, a thousand MPLS
	// labels without bottom of stack, a GTP-U extension chain that never ends, ERSPAN of a
	// wrong version. Each is counted and located; the NTP flows, one inside VXLAN, are audited.
	ntp3 := hostileIPv4(hostileA, hostileB, 17, 6, 0, false, hostileUDP(40160, 123, hostileNTP(3)))
	ntp4 := hostileIPv4(hostileB, hostileA, 17, 7, 0, false, hostileUDP(123, 40160, hostileNTP(4)))
	greNest := ntp3
	for range 1000 {
		greNest = hostileIPv4(hostileA, hostileB, 47, 0, 0, false, append([]byte{0, 0, 8, 0}, greNest...))
	}
	vxlan := func(vni byte, inner []byte) []byte {
		h := append([]byte{8, 0, 0, 0, 0, 0, vni, 0}, hostileEth(0, 0x0800, inner)...)
		return hostileIPv4([4]byte{127, 0, 0, 10}, [4]byte{127, 0, 0, 20}, 17, 0, 0, false, hostileUDP(50000, 4789, h))
	}
	var labels []byte
	for i := range 1000 {
		labels = binary.BigEndian.AppendUint32(labels, uint32(16+i)<<12|64)
	}
	gtp := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85}
	for range 200 {
		gtp = append(gtp, 1, 0, 0, 0x85)
	}
	gtp = append(gtp, ntp3...)
	binary.BigEndian.PutUint16(gtp[2:], uint16(len(gtp)-8))
	erspan := append([]byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x70, 0, 0, 1, 0, 0, 0, 0}, hostileEth(0, 0x0800, ntp3)...)
	cs = append(cs, hostileCase{name: "tunnels", pkts: hostileCapture(
		hostileEth(0, 0x0800, greNest),
		hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, 0, 0, false, hostileUDP(50000, 4789, []byte{8, 0, 0, 0}))),
		hostileEth(0, 0x8847, labels),
		hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 17, 0, 0, false, hostileUDP(2152, 2152, gtp))),
		hostileEth(0, 0x0800, hostileIPv4(hostileA, hostileB, 47, 0, 0, false, erspan)),
		hostileEth(1, 0x0800, vxlan(9, ntp3)),
		hostileEth(1, 0x0800, vxlan(9, ntp4)),
	), check: func(t *testing.T, flows []map[string]any, text string) {
		f := hostileWantFlow(t, flows, "127.0.0.1", 40160, "ntp")
		tun, _ := hostileGet(f, "pcapaudit.tunnel").([]any)
		if len(tun) != 1 {
			t.Fatalf("tunnel %v", hostileGet(f, "pcapaudit.tunnel"))
		}
		l, _ := tun[0].(map[string]any)
		if l["type"] != "vxlan" || l["id"] != 9.0 || l["source"] != "127.0.0.10" || l["vlan"] != 100.0 {
			t.Errorf("tunnel layer %v", l)
		}
		hostileWantNote(t, text, "5 packets not decodable")
		if !strings.Contains(text, "the first at frame 1 (tunnels nested deeper than pcapaudit follows)") {
			t.Errorf("the warning does not locate the nested tunnel")
		}
		if !strings.Contains(text, "127.0.0.1:40160 → 127.0.0.2:123 (udp) via vlan 100 › vxlan 9 127.0.0.10→127.0.0.20") {
			t.Errorf("the flow line does not show the tunnel")
		}
	}})
	return cs
}

// hostileWantBindDN fails unless the LDAP flow from 127.0.0.1:port reports one bind, as dn.
func hostileWantBindDN(t *testing.T, flows []map[string]any, port int, dn string) {
	t.Helper()
	f := hostileWantFlow(t, flows, "127.0.0.1", port, "ldap")
	if f == nil {
		return
	}
	binds, _ := hostileGet(f, "ldap.binds").([]any)
	if len(binds) != 1 {
		t.Errorf("port %d: %d binds reported, want 1: %v", port, len(binds), binds)
		return
	}
	if b, _ := binds[0].(map[string]any); b["dn"] != dn {
		t.Errorf("port %d: bind DN %q, want %q, the bytes seen first", port, b["dn"], dn)
	}
}

func slicesContains(s []any, v any) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// TestHostilePackets audits crafted captures of hostile packets, each as pcap (JSON report)
// and as pcapng (text report). The audit must complete with no file warning, keep reporting
// the well-formed flows among them, and say in its summary what it could not decode.
func TestHostilePackets(t *testing.T) {
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			t.Parallel()
			dir := t.TempDir()
			pcap, ng := filepath.Join(dir, c.name+".pcap"), filepath.Join(dir, c.name+".pcapng")
			hostileWritePcap(t, pcap, c.pkts)
			hostileWritePcapng(t, ng, c.pkts)
			js := hostileAudit(t, c.name+".pcap", "--format", "json", "--all", pcap)
			tx := hostileAudit(t, c.name+".pcapng", "--format", "text", "--all", "--color", "never", "--list", "1000", ng)
			for i, r := range []hostileResult{js, tx} {
				if r.code != 0 && r.code != 1 {
					t.Errorf("exit %d, want 0 or 1: %s", r.code, r.stderr)
				}
				// No file-level warning; packets that could not be decoded are located by
				// one warning naming the file and the first such frame.
				file := []string{pcap, ng}[i]
				ls := hostileLogLines(t, c.name, r.stderr)
				for _, l := range ls {
					if l.Level != "warn" || l.File != file || !regexp.MustCompile(`could not be decoded, the first at frame \d+ \(`).MatchString(l.Message) {
						t.Errorf("stderr: %+v", l)
					}
				}
				if i == 1 && strings.Contains(tx.stdout, "packets not decodable") && len(ls) != 1 {
					t.Errorf("the report counts packets not decodable, but %d warnings locate them", len(ls))
				}
			}
			flows := hostileFlows(t, c.name, js.stdout)
			hostileWantFlow(t, flows, "127.0.0.1", 40123, "ntp")
			if !strings.Contains(tx.stdout, "127.0.0.1:40123 → 127.0.0.2:123 (udp)") {
				t.Errorf("the pcapng text report lacks the NTP flow from port 40123:\n%s", tx.stdout)
			}
			c.check(t, flows, tx.stdout)
			if t.Failed() {
				t.Logf("text report:\n%s", tx.stdout)
			}
		})
	}
}
