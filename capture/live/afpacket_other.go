//go:build !linux

package live

import "errors"

const defaultBackend = BackendPcap

func openAFPacket(Config) (backend, error) {
	return nil, errors.New("live: backend afpacket needs Linux")
}
