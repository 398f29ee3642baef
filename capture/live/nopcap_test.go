//go:build !libpcap

package live

import (
	"errors"
	"strings"
	"testing"
)

// TestPcapBackendNotBuilt: asking a build without libpcap for it is one clear error saying how
// to get it.
func TestPcapBackendNotBuilt(t *testing.T) {
	_, err := Open(Config{Interface: "eth0", Backend: BackendPcap})
	if err == nil || !strings.Contains(err.Error(), "-tags libpcap") {
		t.Errorf("error %v, want one saying to build with -tags libpcap", err)
	}
}

func TestCompileFilterWithoutTcpdump(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := CompileFilter("eth0", "port 53")
	if !errors.Is(err, ErrNoTcpdump) || !strings.Contains(err.Error(), "install") || !strings.Contains(err.Error(), "filter file") {
		t.Errorf("error %v: want ErrNoTcpdump saying to install tcpdump or use a filter file", err)
	}
}
