//go:build libpcap

package live

import (
	"os"
	"testing"
)

// TestCompileFilterWithLibpcap: a libpcap build compiles expressions itself, with no tcpdump.
func TestCompileFilterWithLibpcap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("compiling for an interface opens it: root only")
	}
	t.Setenv("PATH", t.TempDir())
	prog, err := CompileFilter("lo", "udp dst port 5000")
	if err != nil || len(prog) == 0 {
		t.Fatalf("CompileFilter without tcpdump: %v", err)
	}
}
