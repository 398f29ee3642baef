package report

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsonenc"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsontest"
)

// factsFields are the indexes of the fields of flow.Record that hold protocol facts (those
// with a json tag name), by that name.
func factsFields() map[string]int {
	out := map[string]int{}
	rt := reflect.TypeFor[flow.Record]()
	for i := range rt.NumField() {
		if name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

// factsRecords returns, for each protocol, a copy of rec carrying only that protocol's facts,
// every field of them set by f.
func factsRecords(rec *flow.Record, f *jsontest.Filler) map[string]*flow.Record {
	fields := factsFields()
	out := map[string]*flow.Record{}
	for name, i := range fields {
		r := *rec
		rv := reflect.ValueOf(&r).Elem()
		for _, k := range fields {
			rv.Field(k).SetZero()
		}
		p := reflect.New(rv.Field(i).Type().Elem())
		f.Fill(p.Elem())
		rv.Field(i).Set(p)
		out[name] = &r
	}
	return out
}

// The protocol facts are written exactly as encoding/json writes them, for facts of every
// protocol whose every field was picked among the values an encoder gets wrong first: hostile
// strings (quotes, control characters, invalid UTF-8, U+2028), floats at the edges of the
// exponent form and signed zero, the extreme integers, nil against empty lists, nil pointers,
// times in other zones and at the ends of the years JSON holds; and for facts of several
// protocols at once.
func TestFactsMatchEncodingJSON(t *testing.T) {
	rec, _ := ldapBindFlow(t)
	rng := rand.New(rand.NewPCG(5, 6))
	var e jsonenc.Encoder
	var b []byte
	check := func(name string, r *flow.Record) {
		t.Helper()
		want, err := jsontest.Reference(r)
		if err != nil {
			t.Fatalf("%s: encoding/json: %v", name, err)
		}
		b = appendRecordFacts(&e, b[:0], r)
		if e.Err != nil {
			t.Fatalf("%s: %v", name, e.Err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%s: the facts encoder wrote\n%s\nencoding/json\n%s", name, b, want)
		}
	}
	for i := range 500 {
		f := &jsontest.Filler{Rand: rng, Odd: i%10 != 0}
		all := *rec
		for name, r := range factsRecords(rec, f) {
			check(fmt.Sprintf("case %d %s", i, name), r)
			rv, av := reflect.ValueOf(r).Elem(), reflect.ValueOf(&all).Elem()
			for _, k := range factsFields() {
				if !rv.Field(k).IsNil() {
					av.Field(k).Set(rv.Field(k))
				}
			}
		}
		check(fmt.Sprintf("case %d, every protocol", i), &all)
		// The same facts with their out-of-line parts unset, as a detector leaves them.
		unset := all
		emptyParts(&unset)
		check(fmt.Sprintf("case %d, parts unset", i), &unset)
	}
	// Unset parts are written as the zero fields they stand for, where they stand.
	r := *rec
	r.NTP, r.SIP, r.TLS = flow.NewNTPFacts(), flow.NewSIPFacts(), flow.NewTLSFacts()
	check("new facts", &r)
	for _, want := range []string{`"unauthenticated_responses":0,"key_id":0,"mac_length":0,"crypto_nak":false,"mode6_requests":0,` +
		`"mode6_responses":0,"mode6_answered":false,"mode7_requests":0,"mode7_responses":0,"mode7_answered":false,` +
		`"monlist":{"seen":false,"requests":0,"responses":0,"answered":false,"response_bytes":0},"request_bytes":0`,
		`"keepalives":0,"auth":{"digest":false,"digest_response":false,"basic":false,"other":false,"challenged":false},` +
			`"credential_count":0,"challenge_count":0,"sdp_bodies":0,"media_count":0,"sdes_keys":false,"unencrypted_media":false,` +
			`"srtp":false,"dtls_srtp":false,"large_bodies":0,"encoded_bodies":0}`,
		`"tls":{"established":false}`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the facts with unset parts do not have\n%s\nin\n%s", want, b)
		}
	}
}

// emptyParts points the out-of-line parts of r's facts (embedded pointers, TLS's Server) to
// the shared empty blocks new facts have.
func emptyParts(r *flow.Record) {
	set := func(dst any, fresh any) {
		d, f := reflect.ValueOf(dst).Elem(), reflect.ValueOf(fresh).Elem()
		for i := range d.NumField() {
			if sf := d.Type().Field(i); sf.Type.Kind() == reflect.Pointer && (sf.Anonymous || sf.Name == "Server") {
				d.Field(i).Set(f.Field(i))
			}
		}
	}
	if r.NTP != nil {
		x := *r.NTP
		set(&x, flow.NewNTPFacts())
		r.NTP = &x
	}
	if r.SIP != nil {
		x := *r.SIP
		set(&x, flow.NewSIPFacts())
		r.SIP = &x
	}
	if r.TLS != nil {
		x := *r.TLS
		set(&x, flow.NewTLSFacts())
		r.TLS = &x
	}
	if r.LDAP != nil {
		x := *r.LDAP
		set(&x.Ops, &flow.NewLDAPFacts().Ops)
		r.LDAP = &x
	}
}

// A fact JSON cannot hold (NaN, ±Inf; times out of range are tested in jsonenc and factsgen)
// is not written as something else: the writer reports one error naming the flow and the field, as encoding/json refuses
// the value too, and the documents before it are out.
func TestFactsUnsupportedValue(t *testing.T) {
	rec, _ := ldapBindFlow(t)
	for _, c := range []struct {
		field string
		set   func(r *flow.Record)
	}{
		{"flow.LDAPFacts.Amplification", func(r *flow.Record) { r.LDAP.Amplification = math.NaN() }},
		{"flow.NTPTime.RootDelay", func(r *flow.Record) { r.NTP = flow.NewNTPFacts(); r.NTP.Response.RootDelay = math.Inf(1) }},
	} {
		r := *rec
		l := *rec.LDAP
		r.LDAP = &l
		c.set(&r)
		if _, err := jsontest.Reference(&r); err == nil {
			t.Fatalf("%s: encoding/json took the value", c.field)
		}
		var out bytes.Buffer
		j := NewJSON(&out, true, "default")
		j.Flow(rec, nil)
		j.Flow(&r, nil)
		err := j.Close(&Summary{})
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), r.File.String()) {
			t.Errorf("%s: the writer's error is %v, want one naming the field and the file", c.field, err)
		}
		if n := bytes.Count(out.Bytes(), []byte("\n")); n != 1 {
			t.Errorf("%s: %d documents written, want the good flow's", c.field, n)
		}
	}
}

// The documents of flows with the facts of every protocol, every field set, some of them to
// odd values, are byte for byte the reference encoding's (ndjson_test.go).
func TestNDJSONFactsMatchReferenceEncoding(t *testing.T) {
	rec, findings := ldapBindFlow(t)
	rng := rand.New(rand.NewPCG(8, 9))
	for i := range 100 {
		for name, r := range factsRecords(rec, &jsontest.Filler{Rand: rng, Odd: i%2 == 1}) {
			var got bytes.Buffer
			j := NewJSON(&got, true, "default")
			j.Flow(r, findings)
			if err := j.w.Flush(); err != nil {
				t.Fatal(err)
			}
			if want := refEncode(t, r, findings, "default", nil); !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("case %d %s: the writer wrote\n%s\nthe reference encoding\n%s", i, name, got.Bytes(), want)
			}
		}
	}
}

// BenchmarkJSONFacts is the cost of the flow document of a record of each protocol with every
// fact set (two entries in every list), without findings.
func BenchmarkJSONFacts(b *testing.B) {
	rec, _ := ldapBindFlow(b)
	recs := factsRecords(rec, &jsontest.Filler{Rand: rand.New(rand.NewPCG(1, 2))})
	for _, proto := range []string{"ntp", "sip", "ldap", "tls"} {
		b.Run(proto, func(b *testing.B) {
			r := recs[proto]
			var out countWriter
			j := NewJSON(&out, false, "default")
			b.ReportAllocs()
			for b.Loop() {
				j.Flow(r, nil)
			}
			if err := j.Close(nil); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(out.n / int64(b.N))
		})
	}
}
