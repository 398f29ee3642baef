package flow

import (
	"reflect"
	"testing"
)

// sameAsNew reports the first field path where got does not read as want: values compared
// as the output and the policy see them (a list of length 0 reads as none).
func sameAsNew(got, want reflect.Value, path string) string {
	switch got.Kind() {
	case reflect.Slice:
		if got.Len() != want.Len() {
			return path
		}
		for i := range got.Len() {
			if p := sameAsNew(got.Index(i), want.Index(i), path+"[]"); p != "" {
				return p
			}
		}
		return ""
	case reflect.Struct:
		for i := range got.NumField() {
			if p := sameAsNew(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name); p != "" {
				return p
			}
		}
		return ""
	case reflect.Pointer:
		if got.Pointer() != want.Pointer() { // the shared empty blocks, or nil
			return path
		}
		return ""
	case reflect.Array:
		return "" // the facts' inline storage of their first list entries: not read as such
	}
	if !got.Equal(want) {
		return path
	}
	return ""
}

// newNTP is what NewNTPFacts hands out: empty facts pointing to the shared empty blocks.
func newNTP() *NTPFacts {
	return &NTPFacts{NTPAuth: &noNTPAuth, NTPRare: &noNTPRare,
		Request: NTPTime{NTPTimeAuth: &ntpTimeAuths[0]}, Response: NTPTime{NTPTimeAuth: &ntpTimeAuths[0]}}
}

// TestRecycledFactsReadAsNew: facts that a flow filled (every field, every list, out-of-line
// parts of their own), once released, read exactly as the New function's, with the shared
// empty blocks; the small backing arrays of their lists are kept for the next flow and the
// large ones dropped; and nothing a consumer may keep — an out-of-line part, a shared block,
// the cipher-name list shared by flows with the same offer — is written by the release.
func TestRecycledFactsReadAsNew(t *testing.T) {
	poisoned.Store(false)
	shared := []string{"TLS_AES_128_GCM_SHA256"}
	rare := &NTPRare{KeyID: 7}
	names := &LDAPSearchNames{Attributes: []string{"cn"}}                     // shared by every search that names the same
	client := &TLSClientFacts{ALPN: []string{"h2"}, SupportedCiphers: shared} // shared by every flow with the same offer
	cases := []struct {
		name  string
		fill  func() any // filled facts, as a flow leaves them
		fresh any
	}{
		{"ntp", func() any {
			x := NewNTPFacts()
			x.AddMode(3)
			x.AddMode(4)
			x.AddMode(6) // past the shared lists
			poisonValue(reflect.ValueOf(x).Elem())
			x.NTPRare = rare
			return x
		}, newNTP()},
		{"sip", func() any {
			s := NewSIPFacts()
			s.CountCode(200, 16)
			s.AuthPart().CredentialCount = 1
			s.ScannerPart().Scanner = true
			s.Methods.Rare().Prack = 1
			poisonValue(reflect.ValueOf(s).Elem())
			s.ViaTransports = nil
			s.AddViaTransport("UDP", 8) // a shared list
			return s
		}, &SIPFacts{Methods: SIPMethods{SIPMethodsRare: &noSIPMethods}, SIPAuthPart: &noSIPAuth, SIPMediaPart: &noSIPMedia,
			SIPScannerPart: &noSIPScanner}},
		{"ldap", func() any {
			l := NewLDAPFacts()
			l.Binds = make([]LDAPBind, 1, 2)
			l.Searches = make([]LDAPSearch, 16)
			l.ExtendedPart().Extended = make([]LDAPExtended, 1)
			l.Searches[0].LDAPSearchNames = names
			l.Ops.Rare().ModifyRequest = 1
			poisonValue(reflect.ValueOf(l).Elem())
			return l
		}, &LDAPFacts{Ops: LDAPOps{LDAPOpsRare: &noLDAPOpsRare}, LDAPExtendedPart: &noLDAPExtended}},
		{"tls", func() any {
			x := NewTLSFacts()
			x.Alerts = make([]TLSAlert, 1, 4)
			poisonValue(reflect.ValueOf(x).Elem())
			x.Client = client
			return x
		}, &TLSFacts{Client: &noTLSClient, Server: &noTLSServer}},
	}
	for _, c := range cases {
		x := c.fill()
		var r Record
		switch x := x.(type) {
		case *NTPFacts:
			r.NTP = x
		case *SIPFacts:
			r.SIP = x
		case *LDAPFacts:
			r.LDAP = x
		case *TLSFacts:
			r.TLS = x
		}
		r.ReleaseFacts()
		if r.NTP != nil || r.SIP != nil || r.LDAP != nil || r.TLS != nil {
			t.Errorf("%s: the record still points to its released facts", c.name)
		}
		if p := sameAsNew(reflect.ValueOf(x).Elem(), reflect.ValueOf(c.fresh).Elem(), c.name); p != "" {
			t.Errorf("released facts do not read as new ones at %s", p)
		}
	}

	// The lists' backing arrays: small ones kept for the next flow, large ones dropped.
	// The kept arrays hold nothing of the old entries (their strings and lists may be large).
	l := &LDAPFacts{Binds: make([]LDAPBind, 1, 2), Searches: make([]LDAPSearch, 16)}
	l.Binds[0].DN = "cn=admin"
	l.reset()
	if cap(l.Binds) != 2 || l.Searches != nil {
		t.Errorf("reset kept capacities binds %d, searches %d; want 2 (small: kept) and 0 (16: dropped)", cap(l.Binds), cap(l.Searches))
	} else if l.Binds[:1][0].DN != "" {
		t.Error("the kept bind array still holds the old bind")
	}

	// What may be kept is never written.
	if rare.KeyID != 7 || shared[0] != "TLS_AES_128_GCM_SHA256" || names.Attributes[0] != "cn" ||
		len(client.ALPN) != 1 || client.ALPN[0] != "h2" || len(client.SupportedCiphers) != 1 || viaLists[0][0] != "UDP" {
		t.Error("releasing facts wrote to an out-of-line part, to the shared client facts or to the shared cipher list")
	}
	for name, v := range map[string]any{"NTPRare": noNTPRare, "SIPAuthPart": noSIPAuth, "SIPMediaPart": noSIPMedia, "TLSServerFacts": noTLSServer,
		"TLSClientFacts": noTLSClient, "SIPScannerPart": noSIPScanner, "SIPMethodsRare": noSIPMethods, "NTPAuth": noNTPAuth,
		"LDAPExtendedPart": noLDAPExtended,
		"LDAPOpsRare":      noLDAPOpsRare, "LDAPSearchNames": noLDAPSearchNames} {
		if !reflect.ValueOf(v).IsZero() {
			t.Errorf("the shared empty %s block was written", name)
		}
	}
}

// TestPoisonedReleaseIsEmptiedOnReuse: with the test hook on, released facts are filled with
// garbage (a reader that kept them sees it), and New hands them out emptied again.
func TestPoisonedReleaseIsEmptiedOnReuse(t *testing.T) {
	PoisonReleasedFacts(true)
	defer PoisonReleasedFacts(false)
	x := NewNTPFacts()
	x.Version = 4
	r := Record{NTP: x}
	r.ReleaseFacts()
	if x.Version == 4 || x.Auth == "" {
		t.Fatalf("released facts were not poisoned: version %d, auth %q", x.Version, x.Auth)
	}
	for range 100 { // sync.Pool may hand out another value: look at several
		y := NewNTPFacts()
		if p := sameAsNew(reflect.ValueOf(y).Elem(), reflect.ValueOf(newNTP()).Elem(), "ntp"); p != "" {
			t.Fatalf("New handed out facts that do not read as new at %s", p)
		}
		r := Record{NTP: y}
		r.ReleaseFacts()
	}
}
