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

// audit runs pcapaudit with args in a child process and checks what every run must satisfy,
// hostile input or not: an end within the timeout, exit 0, 1 or 2, no panic or stack trace on
// stderr, no detector failure recovered, and bounded memory.
func hostileAudit(t *testing.T, what string, args ...string) hostileResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), hostileTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, append([]string{"-test.run=^TestHostileChild$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), hostileChildEnv+"=1")
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	r := hostileResult{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("%s: no result after %v: the audit hangs\nstderr: %s", what, hostileTimeout, hostileTail(r.stderr))
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v\nstderr: %s", what, err, hostileTail(r.stderr))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss << 10 // KiB on Linux
	}
	if r.code != 0 && r.code != 1 && r.code != 2 {
		t.Errorf("%s: exit code %d, want 0, 1 or 2\nstderr: %s", what, r.code, hostileTail(r.stderr))
	}
	for _, s := range []string{"panic", "goroutine ", "DATA RACE"} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("%s: %q on stderr:\n%s", what, s, hostileTail(r.stderr))
		}
	}
	if strings.Contains(r.stdout, "detector failures recovered") {
		t.Errorf("%s: a detector panicked (recovered by the engine):\n%s", what, r.stdout)
	}
	if r.rss > hostileMaxRSS {
		t.Errorf("%s: peak RSS %d MiB, want at most %d MiB", what, r.rss>>20, hostileMaxRSS>>20)
	}
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
	for _, c := range captures(t) {
		base := filepath.Base(filepath.Dir(c)) + "-" + filepath.Base(c)
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			ms := hostileMutants(t, base, data)
			args := []string{"--fail-on", "none", "--color", "never"}
			byPath := map[string]*hostileMutant{}
			for i := range ms {
				p := filepath.Join(dir, ms[i].name)
				if err := os.WriteFile(p, ms[i].data, 0o644); err != nil {
					t.Fatal(err)
				}
				byPath[p] = &ms[i]
				args = append(args, p)
			}
			r := hostileAudit(t, base+" damaged", args...)
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
