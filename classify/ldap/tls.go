package ldap

import (
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/tls"
)

// tlsHandoff receives the bytes that follow a successful StartTLS, in both directions, and
// gives them to the shared TLS parser, which fills f.TLS. The flow keeps its ldap label; the
// parser answers Done once the handshake facts are known.
type tlsHandoff struct {
	s tls.Session
}

func (h *tlsHandoff) inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	return h.s.Inspect(f, dir, data)
}
