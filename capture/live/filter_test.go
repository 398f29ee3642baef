package live

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

func TestParseDDD(t *testing.T) {
	// tcpdump -i lo -ddd 'udp dst port 5000', as tcpdump 4.99 writes it.
	prog, err := ReadFilterFile("testdata/udp-dst-5000.bpf")
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != 16 {
		t.Fatalf("%d instructions, want 16", len(prog))
	}
	if prog[0] != (bpf.RawInstruction{Op: 40, K: 12}) || prog[1] != (bpf.RawInstruction{Op: 21, Jt: 0, Jf: 4, K: 34525}) {
		t.Errorf("first instructions %+v %+v", prog[0], prog[1])
	}
	if last := prog[15]; last != (bpf.RawInstruction{Op: 6}) {
		t.Errorf("last instruction %+v, want ret #0", last)
	}
	// The program does what it says: the x/net/bpf VM accepts a frame to port 5000 and
	// rejects one to port 5001.
	ins := make([]bpf.Instruction, len(prog))
	for i, r := range prog {
		ins[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	for port, want := range map[uint16]bool{5000: true, 5001: false} {
		s := spec{src: addr("127.0.0.2", 1234), dst: addr("127.0.0.1", port), vlan: -1, size: 10}
		n, err := vm.Run(s.frame(t))
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != want {
			t.Errorf("port %d: filter returned %d", port, n)
		}
	}
}

func TestParseDDDErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "empty"},
		{"blank", "\n\n", "empty"},
		{"no count", "40 0 0 12\n6 0 0 0\n", "line 1: want the instruction count"},
		{"zero count", "0\n", "line 1: want the instruction count"},
		{"huge count", "5000\n6 0 0 0\n", "line 1: want the instruction count"},
		{"short", "2\n6 0 0 0\n", "cut short: 1 of the 2"},
		{"long", "1\n6 0 0 0\n6 0 0 0\n", "line 3: more instructions than the 1"},
		{"three fields", "1\n6 0 0\n", "line 2: want four numbers"},
		{"not a number", "1\n6 0 x 0\n", `line 2: "x" is not a 8-bit`},
		{"code too big", "1\n65536 0 0 0\n", `"65536" is not a 16-bit`},
		{"k too big", "1\n6 0 0 4294967296\n", `is not a 32-bit`},
		{"negative", "1\n6 0 0 -1\n", `"-1" is not a 32-bit`},
		{"tcpdump -dd format", "{ 0x6, 0, 0, 0x00040000 },\n", "line 1: want the instruction count"},
		{"no return", "1\n40 0 0 12\n", "last instruction (1) is not a return"},
		{"jump out", "2\n21 1 0 5\n6 0 0 0\n", "instruction 1 jumps past the end"},
		{"ja out", "2\n5 0 0 1\n6 0 0 0\n", "instruction 1 jumps past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.bpf")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFilterFile(path)
			if err == nil {
				t.Fatalf("no error for %q", tc.text)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, path) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and saying %q", msg, path, tc.want)
			}
		})
	}
	_, err := ReadFilterFile(filepath.Join(t.TempDir(), "missing.bpf"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.bpf") {
		t.Errorf("missing file: %v", err)
	}
}

// TestCompileFilter compiles on the loopback interface (tcpdump or libpcap opens it: root only).
func TestCompileFilter(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil && !havePcap {
		t.Skip("tcpdump is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("compiling for an interface opens it: root only")
	}
	prog, err := CompileFilter("lo", "udp dst port 5000")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadFilterFile("testdata/udp-dst-5000.bpf")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(prog, want) {
		t.Fatalf("compiled %v, want tcpdump's %v", prog, want)
	}
	_, err = CompileFilter("lo", "udp port")
	if err == nil || !strings.Contains(err.Error(), "syntax error") || !strings.Contains(err.Error(), `"udp port"`) ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("bad expression: %v: want one line with tcpdump's message and the expression", err)
	}
	_, err = CompileFilter("nope0", "udp")
	if err == nil || !strings.Contains(err.Error(), "nope0") {
		t.Errorf("bad interface: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{Interface: "eth0"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no interface", func(c *Config) { c.Interface = "" }, "no interface"},
		{"backend", func(c *Config) { c.Backend = "netmap" }, `unknown backend "netmap"`},
		{"workers", func(c *Config) { c.Workers = -1 }, "-1 workers"},
		{"too many workers", func(c *Config) { c.Workers = 1000 }, "1000 workers"},
		{"block not pow2", func(c *Config) { c.BlockSize = 96 << 10 }, "power of two"},
		{"block small", func(c *Config) { c.BlockSize = 4096 }, "ring block size 4096"},
		{"block huge", func(c *Config) { c.BlockSize = 1 << 30 }, "ring block size"},
		{"one block", func(c *Config) { c.NumBlocks = 1 }, "1 ring blocks"},
		{"negative blocks", func(c *Config) { c.NumBlocks = -3 }, "-3 ring blocks"},
		{"ring huge", func(c *Config) { c.BlockSize, c.NumBlocks = 256<<20, 1000 }, "250 GiB, want at most 16"},
		{"poll", func(c *Config) { c.PollTimeout = time.Microsecond }, "poll timeout"},
		{"poll long", func(c *Config) { c.PollTimeout = time.Hour }, "poll timeout"},
		{"both filters", func(c *Config) { c.FilterExpr = "udp"; c.Filter = acceptAllProg }, "not both"},
		{"bad program", func(c *Config) { c.Filter = []bpf.RawInstruction{{Op: 0x28, K: 12}} }, "not a return"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			c, err := Open(cfg)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line saying %q", err, tc.want)
			}
		})
	}
}

var acceptAllProg = []bpf.RawInstruction{{Op: 0x06, K: 0xffffffff}}
