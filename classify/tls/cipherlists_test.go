package tls

import (
	"slices"
	"sync"
	"testing"
)

// TestCipherListsAreShared: two ClientHellos offering the same suites in the same order get
// the same list (one copy however many flows hold it), other offers and the SSL 2.0 format
// get their own, an append to a shared list never writes into it, and a very long offer is
// still named in full.
func TestCipherListsAreShared(t *testing.T) {
	c := newBoundedCache[uint64, nameList](512)
	made := 0
	mk := func(names ...string) func() []string {
		return func() []string { made++; return append(make([]string, 0, 8), names...) }
	}
	a := cipherNames(c, 0, []byte{0x13, 0x01, 0x13, 0x02}, mk("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"))
	b := cipherNames(c, 0, []byte{0x13, 0x01, 0x13, 0x02}, mk("other"))
	if made != 1 || &a[0] != &b[0] || !slices.Equal(b, []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"}) {
		t.Fatalf("the same offer made %d lists: %q, %q", made, a, b)
	}
	if d := cipherNames(c, 0, []byte{0x13, 0x02, 0x13, 0x01}, mk("x", "y")); made != 2 || d[0] != "x" {
		t.Errorf("another order got %q", d)
	}
	if d := cipherNames(c, 2, []byte{0x13, 0x01, 0x13, 0x02}, mk("v2")); made != 3 || d[0] != "v2" {
		t.Errorf("the SSL 2.0 format got %q", d)
	}
	if grown := append(b, "more"); &grown[0] == &a[0] || len(a) != 2 || cap(a) != 2 {
		t.Error("an append wrote into the shared list")
	}
	long := make([]byte, 1200)
	if d := cipherNames(c, 0, long, mk("long")); d[0] != "long" || cipherNames(c, 0, long, mk("long again"))[0] != "long again" {
		t.Error("a long offer was not named afresh")
	}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				raw := []byte{byte(g), byte(i)}
				if l := cipherNames(c, 0, raw, func() []string { return []string{string(raw)} }); l[0] != string(raw) {
					t.Errorf("offer %x got %q", raw, l)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.len() > c.size {
		t.Errorf("the cache holds %d lists, more than %d", c.len(), c.size)
	}
}
