package tls

import (
	"hash/maphash"
	"slices"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// clientOffers shares the client facts (tls.client) among flows: a client makes the same
// offer — server name, suites, ALPN, versions, so the same JA4 — on every connection to the
// same service, and each open TLS flow would otherwise hold its own 112 bytes of them. A block
// is made once per distinct offer and never changed afterwards; it equals the facts it stands
// for, so the output does not depend on the cache. Keyed by a hash of the facts; the block is
// compared with them, so a collision makes a new block instead of a wrong one.
var clientOffers = newBoundedCache[uint64, *flow.TLSClientFacts](1024)

var clientSeed = maphash.MakeSeed()

// shareClient returns read-only client facts equal to c: the shared empty block when c holds
// none, the block of a recent flow whose client offered the same, else a new one (which later
// flows may share).
func shareClient(c *flow.TLSClientFacts) *flow.TLSClientFacts {
	if c.IsZero() {
		return flow.NoTLSClient()
	}
	h := maphash.String(clientSeed, c.ServerName)
	mix := func(v uint64) { h = h*0x9e3779b97f4a7c15 ^ v }
	mix(maphash.String(clientSeed, c.JA4))
	mix(maphash.String(clientSeed, c.VersionMax))
	for _, p := range c.ALPN {
		mix(maphash.String(clientSeed, p))
	}
	mix(uint64(len(c.ALPN)))
	mix(uint64(len(c.SupportedCiphers)))
	if len(c.SupportedCiphers) > 0 {
		mix(maphash.String(clientSeed, c.SupportedCiphers[0]))
	}
	mix(uint64(c.CipherCount))
	if c.SSLv2Hello {
		mix(1)
	}
	if c.CertificateSent {
		mix(2)
	}
	if b, ok := clientOffers.load(h); ok && sameClient(b, c) {
		return b
	}
	b := new(flow.TLSClientFacts)
	*b = *c
	b.ALPN, b.SupportedCiphers = slices.Clip(b.ALPN), slices.Clip(b.SupportedCiphers)
	clientOffers.store(h, b)
	return b
}

// sameClient reports whether a and b hold the same facts.
func sameClient(a, b *flow.TLSClientFacts) bool {
	return a.ServerName == b.ServerName && a.JA4 == b.JA4 && a.VersionMax == b.VersionMax && a.CipherCount == b.CipherCount &&
		a.SSLv2Hello == b.SSLv2Hello && a.CertificateSent == b.CertificateSent &&
		(a.ALPN == nil) == (b.ALPN == nil) && slices.Equal(a.ALPN, b.ALPN) &&
		(a.SupportedCiphers == nil) == (b.SupportedCiphers == nil) && slices.Equal(a.SupportedCiphers, b.SupportedCiphers)
}
