package tls

import (
	"hash/maphash"
	"slices"
)

// cipherLists shares the lists of offered cipher suite names (tls.client.supported_ciphers)
// among flows: the clients of a capture are a few kinds of software, each offering the same
// suites in the same order every time, so most ClientHellos give a list another flow already
// has, and each open TLS flow would otherwise hold its own copy (up to 64 names, 16 bytes
// each). A list is made once per distinct offer, clipped so that an append to it copies, and
// never changed afterwards; the lists are the same as freshly made ones, so the output does
// not depend on the cache. Keyed by a hash of the offer; the offer itself is kept beside the
// list and compared, so a collision makes a fresh list instead of a wrong one.
var cipherLists = newBoundedCache[uint64, nameList](512)

type nameList struct {
	offer string // kind, then the raw cipher_suites bytes
	names []string
}

var offerSeed = maphash.MakeSeed()

// cipherNames returns the list for the raw cipher_suites bytes of a ClientHello (kind tells
// the TLS and the SSL 2.0 formats apart), made by mk when it is not known yet.
func cipherNames(c *boundedCache[uint64, nameList], kind byte, raw []byte, mk func() []string) []string {
	var key [1 + 2*256]byte // most offers; a longer one is made every time
	if len(raw) >= len(key) {
		return slices.Clip(mk())
	}
	key[0] = kind
	k := key[:1+copy(key[1:], raw)]
	h := maphash.Bytes(offerSeed, k)
	if l, ok := c.load(h); ok && l.offer == string(k) {
		return l.names
	}
	names := slices.Clip(mk())
	c.store(h, nameList{offer: string(k), names: names})
	return names
}
