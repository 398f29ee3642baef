package tls

import "sync"

// boundedCache is what the TLS detector shares among flows, whatever flow made it: the facts
// of a leaf certificate (leaves) and the lists of offered cipher suite names (cipherLists).
// Entries are never changed once stored, so a reader may keep what it loads. It holds at
// most size entries: the working set of a capture is small, so a full cache starts again
// rather than track age. Safe for concurrent use.
type boundedCache[K comparable, V any] struct {
	mu   sync.Mutex
	m    map[K]V
	size int
}

func newBoundedCache[K comparable, V any](size int) *boundedCache[K, V] {
	return &boundedCache[K, V]{m: map[K]V{}, size: size}
}

func (c *boundedCache[K, V]) load(k K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *boundedCache[K, V]) store(k K, v V) {
	c.mu.Lock()
	if len(c.m) >= c.size {
		clear(c.m)
	}
	c.m[k] = v
	c.mu.Unlock()
}

// len is the number of entries held.
func (c *boundedCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// forget drops every entry.
func (c *boundedCache[K, V]) forget() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
