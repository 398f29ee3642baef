package classify

import (
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/ldap"
	"github.com/pcapaudit/pcapaudit/classify/ntp"
	"github.com/pcapaudit/pcapaudit/classify/sip"
	"github.com/pcapaudit/pcapaudit/classify/tls"
)

// Detectors returns the protocol detectors in the order they are tried when no port hints
// otherwise. tlsPorts maps a server port to the label of a TLS flow on it (nil: the
// defaults, 636 and 3269 LDAPS, 5061 SIP-TLS).
//
// The order matters only for cost: every detector checks content, so none claims another's
// protocol. The cheap, common ones come first.
func Detectors(tlsPorts map[uint16]flow.Label) []flow.Detector {
	if tlsPorts == nil {
		tlsPorts = tls.DefaultPorts()
	}
	return []flow.Detector{
		ntp.New(),
		sip.New(),
		ldap.New(),
		tls.New(tlsPorts),
	}
}
