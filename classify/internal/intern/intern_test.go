package intern

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

// A value (here a DN) seen twice in a row is shared from then on (no allocation); every answer equals its
// input, also for the many values that share a slot.
func TestInternSharesRepeatedValues(t *testing.T) {
	var tab Table
	dn := []byte("cn=svc-backup,ou=Service Accounts,dc=corp,dc=example,dc=com")
	a := tab.String(dn)
	b := tab.String(dn)
	c := tab.String(dn)
	if a != string(dn) || b != a || c != a {
		t.Fatalf("got %q %q %q", a, b, c)
	}
	if unsafe.StringData(c) != unsafe.StringData(b) {
		t.Error("the third sighting does not share the string kept at the second")
	}
	if n := testing.AllocsPerRun(100, func() { tab.String(dn) }); n != 0 {
		t.Errorf("a shared value allocates %v", n)
	}
	dn[0] = 'C' // the caller's bytes are the capture's: the shared string is a copy
	if c != "cn=svc-backup,ou=Service Accounts,dc=corp,dc=example,dc=com" {
		t.Errorf("the shared string aliases its input: %q", c)
	}
	// Ten values per slot, each seen twice: whatever the table keeps, answers are exact.
	for round := 0; round < 3; round++ {
		for i := 0; i < 10*Slots; i++ {
			v := fmt.Sprintf("uid=user%d,ou=People,dc=example,dc=org", i)
			if got := tab.String([]byte(v)); got != v {
				t.Fatalf("String(%q) = %q", v, got)
			}
		}
	}
	if tab.String(nil) != "" {
		t.Error("an empty value is not empty")
	}
}

// The engine's workers share the table.
func TestInternConcurrent(t *testing.T) {
	var tab Table
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				v := fmt.Sprintf("dc=example%d,dc=org", i%(3*Slots))
				if got := tab.String([]byte(v)); got != v {
					t.Errorf("String(%q) = %q", v, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
