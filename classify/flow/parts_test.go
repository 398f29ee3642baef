package flow

import (
	"reflect"
	"slices"
	"testing"
	"unsafe"
)

// The parts of the facts kept out of line start as the shared empty blocks; the first write
// through Rare, AuthPart or MediaPart gives the facts a block of their own, which later calls
// return again; the other facts and the empty blocks are left as they were.
func TestFactsPartsAreCopiedOnWrite(t *testing.T) {
	a, b := NewNTPFacts(), NewNTPFacts()
	if a.NTPRare != &noNTPRare || b.NTPRare != &noNTPRare {
		t.Fatal("new NTP facts do not share the empty block")
	}
	r := a.Rare()
	r.Mode6Requests, r.KeyID = 3, 9
	if a.Rare() != r || r == &noNTPRare {
		t.Error("Rare does not keep the facts' own block")
	}
	if b.Mode6Requests != 0 || b.KeyID != 0 || !reflect.ValueOf(noNTPRare).IsZero() {
		t.Errorf("a write to one flow's NTP facts changed another's: %+v", *b.NTPRare)
	}
	if (&NTPFacts{}).Rare() == nil {
		t.Error("Rare on facts without a block gives none")
	}

	s, u := NewSIPFacts(), NewSIPFacts()
	if s.SIPAuthPart != &noSIPAuth || s.SIPMediaPart != &noSIPMedia {
		t.Fatal("new SIP facts do not share the empty blocks")
	}
	s.AuthPart().CredentialCount = 2
	s.MediaPart().SDESKeys = true
	if s.AuthPart() != s.SIPAuthPart || s.MediaPart() != s.SIPMediaPart {
		t.Error("AuthPart or MediaPart does not keep the facts' own block")
	}
	if u.SIPScannerPart != &noSIPScanner || u.Methods.SIPMethodsRare != &noSIPMethods {
		t.Fatal("new SIP facts do not share the empty scanner part and rare method counters")
	}
	s.ScannerPart().ScannerName = "sipvicious"
	s.Methods.Rare().Subscribe = 3
	if s.ScannerPart() != s.SIPScannerPart || s.Methods.Rare() != s.Methods.SIPMethodsRare || s.Methods.Subscribe != 3 {
		t.Error("ScannerPart or Methods.Rare does not keep the facts' own block")
	}
	if u.CredentialCount != 0 || u.SDESKeys || u.ScannerName != "" || u.Methods.Subscribe != 0 ||
		!reflect.ValueOf(noSIPAuth).IsZero() || !reflect.ValueOf(noSIPMedia).IsZero() ||
		!reflect.ValueOf(noSIPScanner).IsZero() || !reflect.ValueOf(noSIPMethods).IsZero() {
		t.Error("a write to one flow's SIP facts changed another's")
	}

	if tf := NewTLSFacts(); tf.Server != &noTLSServer || !tf.Server.IsZero() {
		t.Error("new TLS facts do not point to the empty server block")
	}

	l, m := NewLDAPFacts(), NewLDAPFacts()
	if l.Ops.LDAPOpsRare != &noLDAPOpsRare || m.Ops.LDAPOpsRare != &noLDAPOpsRare {
		t.Fatal("new LDAP facts do not share the empty block of rare operations")
	}
	o := l.Ops.Rare()
	o.ModifyRequest = 2
	if l.Ops.Rare() != o || o == &noLDAPOpsRare || l.Ops.ModifyRequest != 2 {
		t.Error("Ops.Rare does not keep the facts' own block")
	}
	if m.Ops.ModifyRequest != 0 || !reflect.ValueOf(noLDAPOpsRare).IsZero() {
		t.Error("a write to one flow's LDAP operation counters changed another's")
	}
	if l.LDAPExtendedPart != &noLDAPExtended || m.LDAPExtendedPart != &noLDAPExtended {
		t.Fatal("new LDAP facts do not share the empty block of extended requests")
	}
	x := l.ExtendedPart()
	x.ExtendedCount, x.PasswordModify = 1, true
	if l.ExtendedPart() != x || x == &noLDAPExtended || l.ExtendedCount != 1 {
		t.Error("ExtendedPart does not keep the facts' own block")
	}
	if m.ExtendedCount != 0 || m.PasswordModify || !reflect.ValueOf(noLDAPExtended).IsZero() {
		t.Error("a write to one flow's extended requests changed another's")
	}
}

// TestLDAPFactsFitTheirSizeClasses: every LDAP flow holds its facts and, nearly always, a
// bind; 208 and 160 bytes are size classes of Go's allocator, one byte more would take 224
// or 176 (TestLiveHeapPerFlow measures the whole).
func TestLDAPFactsFitTheirSizeClasses(t *testing.T) {
	if s := unsafe.Sizeof(LDAPFacts{}); s > 208 {
		t.Errorf("LDAPFacts is %d bytes, want at most 208: what few flows set belongs in a part out of line", s)
	}
	if s := unsafe.Sizeof(LDAPBind{}); s > 160 {
		t.Errorf("LDAPBind is %d bytes, want at most 160: what binds share belongs in LDAPBindAuth", s)
	}
}

// TestLDAPSearchFitsItsListSizeClasses: a flow's searches are a list that grows to 1, 2, 4, 6,
// 9, 13 and 16 entries; at 72 bytes a search takes 80, 144, 288, 448, 704, 1,024 and 1,152
// bytes for them, where 88 took 96, 176, 352, 576, 896, 1,152 and 1,408.
func TestLDAPSearchFitsItsListSizeClasses(t *testing.T) {
	if s := unsafe.Sizeof(LDAPSearch{}); s > 72 {
		t.Errorf("LDAPSearch is %d bytes, want at most 72: what searches share belongs in LDAPSearchNames", s)
	}
}

// TestNTPFactsFitTheirSizeClass: every NTP flow holds its facts; 352 bytes is a size class
// of Go's allocator, where they took 416 (TestLiveHeapPerFlow measures the whole).
func TestNTPFactsFitTheirSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(NTPFacts{}); s > 352 {
		t.Errorf("NTPFacts is %d bytes, want at most 352: a fact few flows set belongs in a part out of line", s)
	}
}

// Flows that saw the same one or two modes, in the same order, share one list; a third mode
// gives a flow its own list and leaves the shared one as it was.
func TestNTPModeListsAreShared(t *testing.T) {
	a, b, c := NewNTPFacts(), NewNTPFacts(), NewNTPFacts()
	for _, x := range []*NTPFacts{a, b, c} {
		x.AddMode(3)
		x.AddMode(4)
		x.AddMode(3)
	}
	if &a.Modes[0] != &b.Modes[0] || !slices.Equal(a.Modes, []int{3, 4}) || a.ModeMask != 1<<3|1<<4 {
		t.Fatalf("two flows that saw modes 3 and 4 hold %v and %v, not one shared list", a.Modes, b.Modes)
	}
	c.AddMode(6)
	d := NewNTPFacts()
	d.AddMode(4)
	d.AddMode(3)
	if !slices.Equal(c.Modes, []int{3, 4, 6}) || !slices.Equal(a.Modes, []int{3, 4}) || !slices.Equal(d.Modes, []int{4, 3}) {
		t.Errorf("modes %v, %v (shared, after another flow's third mode), %v", c.Modes, a.Modes, d.Modes)
	}
	for m, l := range modeLists {
		if !slices.Equal(l[0], []int{m}) || !slices.Equal(l[m+1], []int{m, m}) || len(l[1]) != 2 || l[1][1] != 0 {
			t.Errorf("the shared lists of mode %d were written: %v", m, l)
		}
	}
}

// SetAuth points flows that read alike to one shared block, gives a flow with a kiss code a
// block of its own, and never writes to a block: the facts of other flows stay as they were.
func TestNTPAuthIsShared(t *testing.T) {
	a, b, c := NewNTPFacts(), NewNTPFacts(), NewNTPFacts()
	if a.NTPAuth != &noNTPAuth || a.Auth != "" || a.Request.Auth != "" || a.Response.NTPTimeAuth != NTPTimeAuthOf("") {
		t.Fatal("new NTP facts do not point to the shared empty blocks")
	}
	for _, x := range []*NTPFacts{a, b, c} {
		x.SetAuth(NTPAuth{Auth: "symmetric", ClientAuthenticated: true})
	}
	c.SetAuth(NTPAuth{Auth: "symmetric", ClientAuthenticated: true, KissCode: "RATE"})
	if a.NTPAuth != b.NTPAuth || a.Auth != "symmetric" || !a.ClientAuthenticated || a.ServerAuthenticated {
		t.Errorf("two flows that read alike: %+v and %+v (shared: %v)", *a.NTPAuth, *b.NTPAuth, a.NTPAuth == b.NTPAuth)
	}
	if c.NTPAuth == a.NTPAuth || c.KissCode != "RATE" || a.KissCode != "" || c.Auth != "symmetric" {
		t.Errorf("a flow with a kiss code: %+v; the shared block %+v", *c.NTPAuth, *a.NTPAuth)
	}
	b.SetAuth(NTPAuth{Auth: "nts", ClientAuthenticated: true, ServerAuthenticated: true})
	if a.Auth != "symmetric" || a.ServerAuthenticated || b.Auth != "nts" || !b.ServerAuthenticated {
		t.Errorf("after another flow changed: %+v, %+v", *a.NTPAuth, *b.NTPAuth)
	}
	if !reflect.ValueOf(noNTPAuth).IsZero() {
		t.Errorf("the shared empty block was written: %+v", noNTPAuth)
	}
	for _, n := range []string{"", "none", "symmetric", "crypto-nak", "nts"} {
		if p := NTPTimeAuthOf(n); p != NTPTimeAuthOf(n) || p.Auth != n {
			t.Errorf("the protection %q: %+v, not one shared block", n, *p)
		}
	}
	if p := NTPTimeAuthOf("other"); p.Auth != "other" {
		t.Errorf("another protection reads %q", p.Auth)
	}
}

// TestSIPFactsFitTheirSizeClass: every SIP flow holds its facts; 352 bytes is a size class
// of Go's allocator, where they took 416 (TestLiveHeapPerFlow measures the whole).
func TestSIPFactsFitTheirSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(SIPFacts{}); s > 352 {
		t.Errorf("SIPFacts is %d bytes, want at most 352: a fact few flows set belongs in a part out of line", s)
	}
}

// A flow that names one Via transport shares the list of that one with every other such
// flow; naming a second one gives the flow its own list and leaves the shared one as it was;
// a name outside SIPViaTransports ("OTHER" aside) gets a list of its own.
func TestViaTransportListsAreShared(t *testing.T) {
	a, b, c := NewSIPFacts(), NewSIPFacts(), NewSIPFacts()
	for _, s := range []*SIPFacts{a, b, c} {
		s.AddViaTransport("TCP", 8)
		s.AddViaTransport("TCP", 8)
	}
	if &a.ViaTransports[0] != &b.ViaTransports[0] || len(a.ViaTransports) != 1 || a.ViaTransports[0] != "TCP" {
		t.Fatalf("two flows naming TCP alone hold %q and %q, not one shared list", a.ViaTransports, b.ViaTransports)
	}
	c.AddViaTransport("OTHER", 8)
	c.AddViaTransport("UDP", 8)
	if !slices.Equal(c.ViaTransports, []string{"TCP", "OTHER", "UDP"}) || !slices.Equal(a.ViaTransports, []string{"TCP"}) ||
		cap(a.ViaTransports) != 1 {
		t.Errorf("a flow naming more transports: %q; the shared list now %q", c.ViaTransports, a.ViaTransports)
	}
	d := NewSIPFacts()
	d.AddViaTransport("QUIC", 8)
	d.AddViaTransport("OTHER", 1)
	if !slices.Equal(d.ViaTransports, []string{"QUIC"}) {
		t.Errorf("a name outside the list, then one past the bound: %q", d.ViaTransports)
	}
	for i, l := range viaLists {
		if want := append(SIPViaTransports[:], "OTHER")[i]; len(l) != 1 || l[0] != want {
			t.Errorf("the shared list of %s was written: %q", want, l)
		}
	}
}

// TLSServerFacts.IsZero, which decides whether tls.server is written, agrees with the zero
// value the output used to test (reflect's IsZero of the struct): a server block with any one
// field set is not zero, Expired included.
func TestTLSServerIsZeroAgreesWithReflect(t *testing.T) {
	var s TLSServerFacts
	if !s.IsZero() || !(*TLSServerFacts)(nil).IsZero() {
		t.Fatal("the zero server block is not zero")
	}
	var leaves func(v reflect.Value, path string)
	n := 0
	leaves = func(v reflect.Value, path string) {
		if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[TLSHash]() {
			for i := range v.NumField() {
				leaves(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
			return
		}
		old := reflect.New(v.Type()).Elem()
		old.Set(v)
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(1)
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0)) // empty, not nil: not zero
		case reflect.Struct: // TLSHash
			v.Field(0).SetString("x")
		default:
			t.Fatalf("%s: a %s", path, v.Kind())
		}
		n++
		if s.IsZero() || reflect.ValueOf(s).IsZero() {
			t.Errorf("%s set: IsZero %v, reflect %v", path, s.IsZero(), reflect.ValueOf(s).IsZero())
		}
		v.Set(old)
	}
	leaves(reflect.ValueOf(&s).Elem(), "server")
	if n < 15 || !s.IsZero() {
		t.Errorf("%d fields tried", n)
	}
}
