package ldap

import (
	"reflect"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// FuzzInspect feeds arbitrary bytes, in two payloads, over TCP and UDP. The detector must not
// panic, must leave an unclaimed flow untouched, and must not consume more than it was given.
func FuzzInspect(f *testing.F) {
	seeds := [][]byte{
		anonBind, pwBind, startTLS, bindOK, mqttConnect, mqttPublish, clientHello, indefinite,
		cat(pwBind, unbind(2)),
		search(5, "DC=corp", 2, spnFilter(), "servicePrincipalName"),
		saslBind(1, "", "PLAIN", []byte("\x00a\x00b")),
		bindResponse(1, 49, "data 52e"),
		extendedResponse(1, 0, "", oidStartTLS),
		msg4(7, tlv4(0x60, integer(3), tlv4(0x04), tlv4(0xa3, str("GSS-SPNEGO")))),
	}
	for _, s := range seeds {
		f.Add(s, uint8(len(s)/2), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8, udp bool) {
		d := New()
		fl := flow.New()
		fl.Transport = flow.TCP
		if udp {
			fl.Transport = flow.UDP
		}
		k := min(int(cut), len(data))
		v, n := d.Inspect(fl, flow.FromClient, data[:k])
		if fl.Label == flow.Unknown && !reflect.DeepEqual(fl.Open, &flow.Open{Record: flow.Record{Transport: fl.Transport}}) {
			t.Fatal("an unclaimed flow was modified")
		}
		if n < 0 || n > k {
			t.Fatalf("consumed %d of %d", n, k)
		}
		if v == flow.More {
			rest := data[:k]
			if fl.Label != flow.Unknown {
				rest = rest[n:]
			}
			rest = append(append([]byte(nil), rest...), data[k:]...)
			_, n = d.Inspect(fl, flow.FromServer, rest)
			if n < 0 || n > len(rest) {
				t.Fatalf("consumed %d of %d", n, len(rest))
			}
		}
	})
}
