package ldap

import (
	"bytes"
	"slices"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestSearchNamesAreSharedAndExact: searches with the same scope that name the same
// attributes share one names block, made once (a repeat allocates nothing); each block holds
// exactly the scope and the names of its search — the first 8 requested, each cut to 64
// bytes, their count, the filter's — also when another search took the block's slot
// afterwards; a search that names nothing gets the shared block of its scope, which holds
// the scope alone.
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
		scope         string
	}
	check := func(name string, b *flow.LDAPSearchNames, w want) {
		t.Helper()
		if w.scope == "" {
			w.scope = "sub"
		}
		if !slices.Equal(b.Attributes, w.attrs) || !slices.Equal(b.FilterAttributes, w.filter) || b.AttributeCount != w.count ||
			b.Scope != w.scope {
			t.Errorf("%s: scope %q attributes %q (%d) filter %q, want %q %q (%d) %q", name, b.Scope, b.Attributes, b.AttributeCount,
				b.FilterAttributes, w.scope, w.attrs, w.count, w.filter)
		}
	}
	const sub = 2

	fillSlots := func() {
		for i := range 4 * searchNamesSlots {
			searchNames(sub, attrs(string(rune('a'+i%26)), string(rune('A'+i/26%26))), sink())
		}
	}
	a1, f1 := attrs("cn", "mail", long), sink("objectClass", "uid")
	w1 := want{[]string{"cn", "mail", long[:maxAttrLen]}, []string{"objectClass", "uid"}, 3, ""}
	b1 := searchNames(sub, a1, f1)
	check("first", b1, w1)
	if b := searchNames(sub, a1, f1); b != b1 {
		t.Error("the same names did not share the block")
	}
	if n := testing.AllocsPerRun(100, func() { searchNames(sub, a1, f1) }); n != 0 {
		t.Errorf("a repeated search allocates %v times", n)
	}

	// Names that differ only past what is kept (the 65th byte of a name) share the block;
	// any other difference does not.
	if b := searchNames(sub, attrs("cn", "mail", long+"y"), f1); b != b1 {
		t.Error("names equal in what is kept did not share the block")
	}
	// Fill every slot with other names: the blocks already handed out stay as they were, and
	// the searches below each find their slot taken by other names.
	fillSlots()
	check("first, after its slot was taken", b1, w1)
	for _, c := range []struct {
		name   string
		scope  int32
		attrs  []byte
		filter *filterSink
		want   want
	}{
		{"one attribute fewer", sub, attrs("cn", "mail"), f1, want{[]string{"cn", "mail"}, []string{"objectClass", "uid"}, 2, ""}},
		{"another filter", sub, a1, sink("objectClass"), want{w1.attrs, []string{"objectClass"}, 3, ""}},
		{"the filter's names requested", sub, attrs("objectClass", "uid"), sink("cn", "mail", long),
			want{[]string{"objectClass", "uid"}, []string{"cn", "mail", long[:maxAttrLen]}, 2, ""}},
		{"past the bound", sub, attrs("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), sink(),
			want{[]string{"a", "b", "c", "d", "e", "f", "g", "h"}, nil, 10, ""}},
		{"filter only", sub, nil, sink("objectClass"), want{nil, []string{"objectClass"}, 0, ""}},
		{"another scope", 1, a1, f1, want{w1.attrs, w1.filter, 3, "one"}},
	} {
		fillSlots()
		b := searchNames(c.scope, c.attrs, c.filter)
		if b == b1 || b == flow.NoLDAPSearchNames() {
			t.Errorf("%s: shares a block it should not", c.name)
		}
		check(c.name, b, c.want)
	}
	// The same names in another scope, while the first block still holds its slot.
	if b := searchNames(0, a1, f1); b == b1 || b.Scope != "base" {
		t.Errorf("a search in scope base got a block of scope %q", b.Scope)
	}

	for scope, name := range scopeNames {
		b := searchNames(int32(scope), nil, sink())
		if b != searchNames(int32(scope), nil, sink()) || b == flow.NoLDAPSearchNames() {
			t.Errorf("searches naming nothing in scope %s do not share their scope's block", name)
		}
		check("scope "+name+" only", b, want{scope: name})
	}
	if e := flow.NoLDAPSearchNames(); e.Scope != "" || e.Attributes != nil || e.FilterAttributes != nil || e.AttributeCount != 0 {
		t.Errorf("the empty block was written: %+v", *e)
	}
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
