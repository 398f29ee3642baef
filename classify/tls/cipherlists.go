package tls

import (
	"slices"
	"sync"
)

// nameLists shares the lists of offered cipher suite names (tls.client.supported_ciphers)
// among flows: the clients of a capture are a few kinds of software, each offering the same
// suites in the same order every time, so most ClientHellos give a list another flow already
// has, and each open TLS flow would otherwise hold its own copy (up to 64 names, 16 bytes
// each). A list is made once per distinct offer, clipped so that an append to it copies, and
// never changed afterwards. Safe for concurrent use; the lists are the same as freshly made
// ones, so the output does not depend on the cache.
type nameLists struct {
	mu sync.Mutex
	m  map[string][]string
}

const nameListsSize = 512

var cipherLists = &nameLists{m: map[string][]string{}}

// get returns the list for the raw cipher_suites bytes of a ClientHello (kind tells the TLS
// and the SSL 2.0 formats apart), made by mk when it is not known yet.
func (c *nameLists) get(kind byte, raw []byte, mk func() []string) []string {
	var key [1 + 2*256]byte // most offers; a longer one is made every time
	if len(raw) >= len(key) {
		return slices.Clip(mk())
	}
	key[0] = kind
	k := key[:1+copy(key[1:], raw)]
	c.mu.Lock()
	l, ok := c.m[string(k)]
	c.mu.Unlock()
	if ok {
		return l
	}
	l = slices.Clip(mk())
	c.mu.Lock()
	if len(c.m) >= nameListsSize {
		clear(c.m) // the working set of a capture is small; start again rather than track age
	}
	c.m[string(k)] = l
	c.mu.Unlock()
	return l
}
