package ldap

import "github.com/pcapaudit/pcapaudit/classify/flow"

// tlsHandoff receives the bytes that follow a successful StartTLS, in both directions.
//
// It is where the shared TLS parser plugs in (a tls.Session kept in the per-flow state,
// filling f.TLS). Until then the upgrade itself is the fact the policy needs, so inspection
// ends there.
type tlsHandoff struct{}

func (*tlsHandoff) inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	return flow.Done, len(data)
}
