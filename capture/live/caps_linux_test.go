//go:build linux

package live

import "golang.org/x/sys/unix"

// dropCapNetRaw removes CAP_NET_RAW from the calling thread (capabilities are per thread on
// Linux), so a test can see what a user without it sees. Call it only on a locked thread that
// is thrown away afterwards (netnstest.Veth.Do).
func dropCapNetRaw() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	bit := uint32(1) << (unix.CAP_NET_RAW % 32)
	data[unix.CAP_NET_RAW/32].Effective &^= bit
	data[unix.CAP_NET_RAW/32].Permitted &^= bit
	return unix.Capset(&hdr, &data[0])
}
