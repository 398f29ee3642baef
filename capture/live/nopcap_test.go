//go:build !libpcap

package live

import (
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
