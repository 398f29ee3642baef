package flow

import (
	"reflect"
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
	if u.CredentialCount != 0 || u.SDESKeys || !reflect.ValueOf(noSIPAuth).IsZero() || !reflect.ValueOf(noSIPMedia).IsZero() {
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
}

// TestLDAPFactsFitTheirSizeClasses: every LDAP flow holds its facts and, nearly always, a
// bind; 224 and 176 bytes are size classes of Go's allocator, one byte more would take 240
// or 192 (TestLiveHeapPerFlow measures the whole).
func TestLDAPFactsFitTheirSizeClasses(t *testing.T) {
	if s := unsafe.Sizeof(LDAPFacts{}); s > 224 {
		t.Errorf("LDAPFacts is %d bytes, want at most 224: a counter few flows set belongs in LDAPOpsRare", s)
	}
	if s := unsafe.Sizeof(LDAPBind{}); s > 176 {
		t.Errorf("LDAPBind is %d bytes, want at most 176", s)
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
