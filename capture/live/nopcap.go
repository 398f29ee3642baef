//go:build !libpcap

package live

import (
	"errors"

	"golang.org/x/net/bpf"
)

// havePcap: this build has no libpcap backend (build with -tags libpcap for it).
const havePcap = false

func openPcap(Config) (backend, error) {
	return nil, errors.New("live: backend pcap is not in this binary: build it with -tags libpcap")
}

// compileLive is not used without libpcap: CompileFilter runs tcpdump.
func compileLive(iface, expr string) ([]bpf.RawInstruction, error) {
	return nil, errors.New("live: no libpcap in this binary")
}
