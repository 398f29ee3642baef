package classify_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// keptFacts are the protocol facts of one record and what they said when it was emitted.
type keptFacts struct {
	ntp  *flow.NTPFacts
	sip  *flow.SIPFacts
	tls  *flow.TLSFacts
	ldap *flow.LDAPFacts
	snap string
}

func (k *keptFacts) snapshot() string {
	b, err := json.Marshal(struct {
		NTP  *flow.NTPFacts
		SIP  *flow.SIPFacts
		TLS  *flow.TLSFacts
		LDAP *flow.LDAPFacts
	}{k.ntp, k.sip, k.tls, k.ldap})
	if err != nil {
		panic(err)
	}
	s := string(b)
	if k.tls != nil && k.tls.Server != nil {
		s += fmt.Sprint(" expired ", k.tls.Server.Expired) // not in the JSON
	}
	return s
}

// The facts that flows share — the empty blocks of the parts kept out of line (NTP's rare
// facts, SIP's credentials and SDP, TLS's server facts, LDAP's rare operation counters and
// searches' attribute names) and the TLS server facts of a
// certificate seen on several flows — are never written by a flow: every shipped capture, run
// four times at once through parallel engines (under -race in the race run), gives records
// whose facts at the end of the run are what they were when the record was emitted, and
// the empty blocks are still empty.
func TestSharedFactsAreNeverWritten(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "real", "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	var frames [][]frame
	for _, f := range files {
		frames = append(frames, readAll(t, f))
	}
	var (
		mu   sync.Mutex
		kept []*keptFacts
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := classify.DefaultConfig()
			cfg.Detectors = classify.Detectors(nil)
			for _, fr := range frames {
				p := classify.NewParallel(cfg, 2, func(r *flow.Record) {
					if r.NTP == nil && r.SIP == nil && r.TLS == nil && r.LDAP == nil {
						return
					}
					k := &keptFacts{ntp: r.NTP, sip: r.SIP, tls: r.TLS, ldap: r.LDAP}
					k.snap = k.snapshot()
					mu.Lock()
					kept = append(kept, k)
					mu.Unlock()
				})
				for i := range fr {
					pk := fr[i].p
					p.Packet(&pk)
				}
				p.Flush()
				p.Close()
			}
		}()
	}
	wg.Wait()

	var ntpUnset, ntpSet, sipUnset, sipSet, tlsShared, ldapUnset, ldapSet int
	servers := map[*flow.TLSServerFacts]int{}
	for _, k := range kept {
		if now := k.snapshot(); now != k.snap {
			t.Errorf("facts changed after their record was emitted:\n was %s\n now %s", k.snap, now)
		}
		if k.ntp != nil {
			if k.ntp.NTPRare == flow.NewNTPFacts().NTPRare {
				ntpUnset++
			} else {
				ntpSet++
			}
		}
		if k.sip != nil {
			if k.sip.SIPAuthPart == flow.NewSIPFacts().SIPAuthPart && k.sip.SIPMediaPart == flow.NewSIPFacts().SIPMediaPart {
				sipUnset++
			} else {
				sipSet++
			}
		}
		if k.ldap != nil {
			if k.ldap.Ops.LDAPOpsRare == flow.NewLDAPFacts().Ops.LDAPOpsRare {
				ldapUnset++
			} else {
				ldapSet++
			}
		}
		if k.tls != nil && !k.tls.Server.IsZero() {
			if servers[k.tls.Server]++; servers[k.tls.Server] == 2 {
				tlsShared++
			}
		}
	}
	if ntpUnset == 0 || ntpSet == 0 || sipUnset == 0 || sipSet == 0 || tlsShared == 0 || ldapUnset == 0 || ldapSet == 0 {
		t.Errorf("the captures do not exercise the parts: NTP %d unset %d set, SIP %d unset %d set, %d shared TLS server blocks, "+
			"LDAP %d unset %d set", ntpUnset, ntpSet, sipUnset, sipSet, tlsShared, ldapUnset, ldapSet)
	}
	n, s := flow.NewNTPFacts(), flow.NewSIPFacts()
	for name, v := range map[string]any{"NTPRare": *n.NTPRare, "NTPAuth": *n.NTPAuth, "NTPTimeAuth": *n.Request.NTPTimeAuth,
		"SIPAuthPart": *s.SIPAuthPart, "SIPMediaPart": *s.SIPMediaPart, "SIPScannerPart": *s.SIPScannerPart,
		"SIPMethodsRare": *s.Methods.SIPMethodsRare,
		"TLSServerFacts": *flow.NewTLSFacts().Server, "LDAPOpsRare": *flow.NewLDAPFacts().Ops.LDAPOpsRare,
		"LDAPSearchNames": *flow.NoLDAPSearchNames(), "TLSClientFacts": *flow.NoTLSClient()} {
		if !reflect.ValueOf(v).IsZero() {
			t.Errorf("the shared empty %s was written: %+v", name, v)
		}
	}
	t.Logf("%d records: NTP %d unset %d set, SIP %d unset %d set, %d shared TLS server blocks, LDAP %d unset %d set",
		len(kept), ntpUnset, ntpSet, sipUnset, sipSet, tlsShared, ldapUnset, ldapSet)
}
