package ldap

import (
	"bytes"
	"slices"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestSearchNamesAreSharedAndExact: searches that name the same attributes share one names
// block, made once (a repeat allocates nothing); each block holds exactly the names of its
// search — the first 8 requested, each cut to 64 bytes, their count, the filter's — also
// when another search took the block's slot afterwards; a search that names nothing gets
// the shared empty block, which stays empty.
func TestSearchNamesAreSharedAndExact(t *testing.T) {
	attrs := func(names ...string) []byte {
		var b []byte
		for _, n := range names {
			b = append(b, tlv(0x04, []byte(n))...)
		}
		return b
	}
	sink := func(names ...string) *filterSink {
		s := &filterSink{}
		for _, n := range names {
			s.attr([]byte(n), false)
		}
		return s
	}
	long := string(bytes.Repeat([]byte("x"), 100))
	type want struct {
		attrs, filter []string
		count         int
	}
	check := func(name string, b *flow.LDAPSearchNames, w want) {
		t.Helper()
		if !slices.Equal(b.Attributes, w.attrs) || !slices.Equal(b.FilterAttributes, w.filter) || b.AttributeCount != w.count {
			t.Errorf("%s: attributes %q (%d) filter %q, want %q (%d) %q", name, b.Attributes, b.AttributeCount, b.FilterAttributes,
				w.attrs, w.count, w.filter)
		}
	}

	fillSlots := func() {
		for i := range 4 * searchNamesSlots {
			searchNames(attrs(string(rune('a'+i%26)), string(rune('A'+i/26%26))), sink())
		}
	}
	a1, f1 := attrs("cn", "mail", long), sink("objectClass", "uid")
	w1 := want{[]string{"cn", "mail", long[:maxAttrLen]}, []string{"objectClass", "uid"}, 3}
	b1 := searchNames(a1, f1)
	check("first", b1, w1)
	if b := searchNames(a1, f1); b != b1 {
		t.Error("the same names did not share the block")
	}
	if n := testing.AllocsPerRun(100, func() { searchNames(a1, f1) }); n != 0 {
		t.Errorf("a repeated search allocates %v times", n)
	}

	// Names that differ only past what is kept (the 65th byte of a name) share the block;
	// any other difference does not.
	if b := searchNames(attrs("cn", "mail", long+"y"), f1); b != b1 {
		t.Error("names equal in what is kept did not share the block")
	}
	// Fill every slot with other names: the blocks already handed out stay as they were, and
	// the searches below each find their slot taken by other names.
	fillSlots()
	check("first, after its slot was taken", b1, w1)
	for _, c := range []struct {
		name   string
		attrs  []byte
		filter *filterSink
		want   want
	}{
		{"one attribute fewer", attrs("cn", "mail"), f1, want{[]string{"cn", "mail"}, []string{"objectClass", "uid"}, 2}},
		{"another filter", a1, sink("objectClass"), want{w1.attrs, []string{"objectClass"}, 3}},
		{"the filter's names requested", attrs("objectClass", "uid"), sink("cn", "mail", long),
			want{[]string{"objectClass", "uid"}, []string{"cn", "mail", long[:maxAttrLen]}, 2}},
		{"past the bound", attrs("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), sink(),
			want{[]string{"a", "b", "c", "d", "e", "f", "g", "h"}, nil, 10}},
		{"filter only", nil, sink("objectClass"), want{nil, []string{"objectClass"}, 0}},
	} {
		fillSlots()
		b := searchNames(c.attrs, c.filter)
		if b == b1 || b == flow.NoLDAPSearchNames() {
			t.Errorf("%s: shares a block it should not", c.name)
		}
		check(c.name, b, c.want)
	}

	if b := searchNames(nil, sink()); b != flow.NoLDAPSearchNames() {
		t.Error("a search naming nothing did not get the shared empty block")
	}
	check("the empty block", flow.NoLDAPSearchNames(), want{})
}

// TestFactsListsGrowByHalf: a flow's list of searches (binds, extended requests) keeps little
// unused room as it grows: past 4 entries it grows by half, not by double, and it never
// grows past what its bound needs, in no more steps than doubling would take plus two.
func TestFactsListsGrowByHalf(t *testing.T) {
	var list []flow.LDAPSearch
	grows := 0
	for n := 1; n <= maxSearches; n++ {
		was := cap(list)
		list = append(grow(list, maxSearches), flow.LDAPSearch{MessageID: int32(n)})
		if cap(list) != was {
			grows++
		}
		if limit := max(n+n/2+1, 4); cap(list) > limit {
			t.Errorf("%d searches in a list of room %d, want at most %d", n, cap(list), limit)
		}
	}
	if limit := maxSearches; cap(list) > limit || grows > 7 {
		t.Errorf("room for %d searches after %d growths, want at most %d after at most 7", cap(list), grows, limit)
	}
	for i, s := range list {
		if s.MessageID != int32(i+1) {
			t.Fatalf("entry %d is search %d", i, s.MessageID)
		}
	}
}
