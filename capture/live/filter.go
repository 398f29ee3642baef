package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/bpf"
)

// maxInstructions is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInstructions = 4096

// compileTimeout bounds one run of tcpdump.
const compileTimeout = 30 * time.Second

// ErrNoTcpdump: CompileFilter needs tcpdump and it is not installed.
var ErrNoTcpdump = errors.New("tcpdump is not installed")

// CompileFilter compiles a tcpdump filter expression for a live capture on iface, so that
// its VLAN tests read the kernel's VLAN metadata (code compiled for a capture file looks for
// the tag in the frame, where it no longer is). Built with -tags libpcap, libpcap compiles it
// on a handle opened on iface; otherwise tcpdump -i iface -ddd does, and when tcpdump is not
// installed the error (wrapping ErrNoTcpdump) says what to do. Either opens the interface, so
// it needs the same permission as capturing. An expression that does not compile is an error
// carrying libpcap's (tcpdump's) own message.
func CompileFilter(iface, expr string) ([]bpf.RawInstruction, error) {
	if havePcap {
		return compileLive(iface, expr)
	}
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("live: filter %q: %w: install it (Debian: apt-get install tcpdump) or give a program compiled with tcpdump -ddd in a filter file", expr, ErrNoTcpdump)
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "-i", iface, "-ddd", "--", expr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := oneLine(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("live: filter %q on %s: %s", expr, iface, msg)
	}
	prog, err := parseDDD(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("live: filter %q: tcpdump's output: %w", expr, err)
	}
	return prog, nil
}

// ReadFilterFile reads a classic BPF program in the format of tcpdump -ddd: the number of
// instructions on the first line, then one instruction a line as four decimal numbers (code,
// jt, jf, k). Compile it on the sensor's interface type (Ethernet), for example
// tcpdump -i eth1 -ddd 'not port 22' > sensor.bpf.
func ReadFilterFile(path string) ([]bpf.RawInstruction, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("live: filter file: %w", err) // *PathError names the file
	}
	prog, err := parseDDD(b)
	if err != nil {
		return nil, fmt.Errorf("live: filter file %s: %w", path, err)
	}
	return prog, nil
}

// parseDDD parses tcpdump -ddd output and checks the program's structure.
func parseDDD(b []byte) ([]bpf.RawInstruction, error) {
	lines := strings.Split(string(b), "\n")
	var prog []bpf.RawInstruction
	want := -1
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n := i + 1
		f := strings.Fields(line)
		if want < 0 {
			c, err := strconv.Atoi(line)
			if err != nil || c < 1 || c > maxInstructions {
				return nil, fmt.Errorf("line %d: want the instruction count (1 to %d) first, as tcpdump -ddd writes it, got %q", n, maxInstructions, clip(line))
			}
			want = c
			prog = make([]bpf.RawInstruction, 0, c)
			continue
		}
		if len(prog) == want {
			return nil, fmt.Errorf("line %d: more instructions than the %d announced on the first line", n, want)
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want four numbers (code jt jf k), got %q", n, clip(line))
		}
		var v [4]uint64
		for j, bits := range [4]int{16, 8, 8, 32} {
			x, err := strconv.ParseUint(f[j], 10, bits)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q is not a %d-bit unsigned decimal number", n, clip(f[j]), bits)
			}
			v[j] = x
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	switch {
	case want < 0:
		return nil, errors.New("empty: no BPF program (want tcpdump -ddd's output)")
	case len(prog) < want:
		return nil, fmt.Errorf("cut short: %d of the %d instructions announced", len(prog), want)
	}
	if err := checkProgram(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// checkProgram checks what the kernel would refuse with a bare "invalid argument": a jump out
// of the program, a program that does not end with a return, too many instructions. The kernel
// checks the rest (opcodes, memory slots) when the filter is attached.
func checkProgram(prog []bpf.RawInstruction) error {
	const (
		classMask = 0x07
		classJmp  = 0x05
		classRet  = 0x06
		opMask    = 0xf0
		opJa      = 0x00
	)
	if len(prog) == 0 || len(prog) > maxInstructions {
		return fmt.Errorf("%d instructions: want 1 to %d", len(prog), maxInstructions)
	}
	for i, ins := range prog {
		left := uint64(len(prog) - i - 1) // instructions after this one
		if ins.Op&classMask != classJmp {
			continue
		}
		if ins.Op&opMask == opJa {
			if uint64(ins.K) >= left {
				return fmt.Errorf("instruction %d jumps past the end of the program", i+1)
			}
		} else if uint64(ins.Jt) >= left || uint64(ins.Jf) >= left {
			return fmt.Errorf("instruction %d jumps past the end of the program", i+1)
		}
	}
	if last := prog[len(prog)-1]; last.Op&classMask != classRet {
		return fmt.Errorf("the last instruction (%d) is not a return", len(prog))
	}
	return nil
}

// oneLine joins a tool's message into one line, without its usage text.
func oneLine(s string) string {
	var parts []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Usage:") {
			continue
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}

// clip shortens what an error quotes from a file.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
