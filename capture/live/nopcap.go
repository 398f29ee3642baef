//go:build !libpcap

package live

import "errors"

// havePcap: this build has no libpcap backend (build with -tags libpcap for it).
const havePcap = false

func openPcap(Config) (backend, error) {
	return nil, errors.New("live: backend pcap is not in this binary: build it with -tags libpcap")
}
