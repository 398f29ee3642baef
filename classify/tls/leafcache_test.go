package tls

import (
	"reflect"
	"sync"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// certMessage is the body of a Certificate handshake message carrying the given chain.
func certMessage(ders ...[]byte) []byte {
	u24 := func(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }
	var list []byte
	for _, d := range ders {
		list = append(append(list, u24(len(d))...), d...)
	}
	return append(u24(len(list)), list...)
}

func forgetLeaves() {
	leaves.forget()
}

// A certificate seen again gives the same facts as a fresh parse; what depends on the flow
// (the chain length, the SNI match) is the flow's own.
func TestLeafCacheGivesFreshFacts(t *testing.T) {
	c := makeCert(t, 2048, notBefore, notAfter)
	other := makeCert(t, 0, notBefore, notAfter)
	parse := func(sni string, chain ...[]byte) *flow.TLSFacts {
		f := flow.NewTLSFacts()
		f.Client.ServerName = sni
		if err := parseCertificates(f, certMessage(chain...)); err != nil {
			t.Fatal(err)
		}
		return f
	}
	forgetLeaves()
	fresh := parse("ldap.example.com", c.der)
	cached := parse("ldap.example.com", c.der, other.der)
	if cached.Server.ChainLength != 2 || fresh.Server.ChainLength != 1 {
		t.Errorf("chain lengths %d, %d: want each flow's own", fresh.Server.ChainLength, cached.Server.ChainLength)
	}
	cached.Server.ChainLength = 1
	if !reflect.DeepEqual(fresh, cached) {
		t.Errorf("cached facts differ:\n fresh  %+v\n cached %+v", fresh, cached)
	}
	if m := parse("mail.example.net", c.der); m.NameMatchesSNI == nil || *m.NameMatchesSNI {
		t.Errorf("another SNI on the cached certificate: match %v, want false", m.NameMatchesSNI)
	}
	// A flow appending to its copy of a list does not write into the cache.
	cached.Server.X509.AlternativeNames = append(cached.Server.X509.AlternativeNames, "evil.example")
	if again := parse("ldap.example.com", c.der); !reflect.DeepEqual(fresh, again) {
		t.Errorf("the cache changed under a flow's append:\n%+v", again)
	}
	// A leaf that does not parse is remembered as such.
	bad := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	for range 2 {
		f := flow.NewTLSFacts()
		if err := parseCertificates(f, certMessage(bad)); err != ErrCertificate || f.Server.CertificateError == "" {
			t.Errorf("bad leaf: %v, error %q", err, f.Server.CertificateError)
		}
	}
}

func TestLeafCacheConcurrentAndBounded(t *testing.T) {
	forgetLeaves()
	c := makeCert(t, 2048, notBefore, notAfter)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				f := flow.NewTLSFacts()
				der := c.der
				if i%3 == 0 { // distinct unparsable leaves fill the cache
					der = []byte{0x30, 0x03, 0x02, 0x01, byte(g), byte(i), byte(i >> 8)}
				}
				parseCertificates(f, certMessage(der))
			}
		}()
	}
	wg.Wait()
	n := leaves.len()
	if n > leafCacheSize {
		t.Errorf("%d leaves cached, bound %d", n, leafCacheSize)
	}
}

// BenchmarkLeaf is the certificate message of a server seen for the first time, and again.
func BenchmarkLeaf(b *testing.B) {
	msg := certMessage(makeCert(b, 2048, notBefore, notAfter).der)
	for _, again := range []bool{false, true} {
		name := map[bool]string{false: "first", true: "again"}[again]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !again {
					forgetLeaves()
				}
				f := flow.NewTLSFacts()
				f.Client.ServerName = "ldap.example.com"
				if err := parseCertificates(f, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
