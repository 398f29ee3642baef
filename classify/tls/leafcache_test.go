package tls

import (
	"reflect"
	"sync"
	"testing"
	"time"

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
// (the chain length, the expiry at the flow's time, the SNI match) is the flow's own. Flows
// that saw the certificate alike share one block of server facts, read-only: a flow that saw
// it otherwise gets another, and the first flow's facts do not change.
func TestLeafCacheGivesFreshFacts(t *testing.T) {
	c := makeCert(t, 2048, notBefore, notAfter)
	other := makeCert(t, 0, notBefore, notAfter)
	parse := func(sni string, at time.Time, chain ...[]byte) *flow.TLSFacts {
		f := flow.NewTLSFacts()
		f.Client = &flow.TLSClientFacts{ServerName: sni}
		f.Certificate.Time = flow.TimeOf(at)
		if err := parseCertificates(f, certMessage(chain...)); err != nil {
			t.Fatal(err)
		}
		return f
	}
	valid, late := notBefore.Add(time.Hour), notAfter.Add(time.Hour)
	forgetLeaves()
	fresh := parse("ldap.example.com", valid, c.der)
	want := *fresh.Server
	cached := parse("ldap.example.com", valid, c.der, other.der)
	if cached.Server.ChainLength != 2 || fresh.Server.ChainLength != 1 {
		t.Errorf("chain lengths %d, %d: want each flow's own", fresh.Server.ChainLength, cached.Server.ChainLength)
	}
	expired := parse("ldap.example.com", late, c.der)
	if !expired.Server.Expired || fresh.Server.Expired {
		t.Errorf("expired %v, %v: want each flow's own", fresh.Server.Expired, expired.Server.Expired)
	}
	if again := parse("ldap.example.com", valid, c.der); again.Server != fresh.Server {
		t.Error("two flows that saw the certificate alike do not share its facts")
	}
	if cached.Server == fresh.Server || expired.Server == fresh.Server {
		t.Error("flows that saw the certificate otherwise share its facts")
	}
	if !reflect.DeepEqual(*fresh.Server, want) {
		t.Errorf("another flow's certificate changed the first's facts:\n was %+v\n now %+v", want, *fresh.Server)
	}
	for _, f := range []*flow.TLSFacts{cached, expired} {
		s := *f.Server
		s.ChainLength, s.Expired = want.ChainLength, want.Expired
		if !reflect.DeepEqual(s, want) {
			t.Errorf("cached facts differ:\n fresh  %+v\n cached %+v", want, s)
		}
	}
	if m := parse("mail.example.net", valid, c.der); m.NameMatchesSNI == nil || *m.NameMatchesSNI {
		t.Errorf("another SNI on the cached certificate: match %v, want false", m.NameMatchesSNI)
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
				f.Client = &flow.TLSClientFacts{ServerName: "ldap.example.com"}
				if err := parseCertificates(f, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
