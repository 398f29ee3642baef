package ldap

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/ldap/ber"
)

// searchNamesSlots is the number of names blocks the table of shared ones holds (a power of
// two).
const searchNamesSlots = 256

// searchNamesTable holds the names blocks (flow.LDAPSearchNames) of recent searches, so that
// searches with the same scope naming the same attributes — an application asks the same
// question again and again, on flow after flow — share one read-only block instead of each
// holding its own scope and lists. A slot holds the latest block whose names hashed to it; it is safe for the engine's
// workers without a lock (slots are atomic pointers to immutable entries) and bounded.
var searchNamesTable [searchNamesSlots]atomic.Pointer[searchNamesEntry]

// searchNamesSeed seeds the hash of the table's slots.
var searchNamesSeed = maphash.MakeSeed()

type searchNamesEntry struct {
	h     uint64
	names flow.LDAPSearchNames
}

// scopeOnly are the blocks of the searches that name no attribute, by scope. Nothing writes
// to them.
var scopeOnly = func() (b [len(scopeNames)]flow.LDAPSearchNames) {
	for i, s := range scopeNames {
		b[i].Scope = s
	}
	return b
}()

// searchNames returns the names block of a search with the given scope (0–3, as parseSearch
// checked) whose attribute list is attrs (the content of the SEQUENCE, already checked by
// parseSearch) and whose filter named sink's attributes: the shared block of its scope when
// it names none, a shared block when a recent search asked the same, else a new one (which
// later searches may share). It allocates only for a new block.
func searchNames(scope int32, attrs []byte, sink *filterSink) *flow.LDAPSearchNames {
	var raw [maxAttrs][]byte // the first maxAttrs attributes, each bounded as attrName keeps it
	n, count := 0, 0
	for a := ber.Reader(attrs); !a.Empty(); count++ {
		v, _ := a.Read(ber.TagOctetString)
		if count < maxAttrs {
			raw[n] = cutAttr(v)
			n++
		}
	}
	var fraw [maxFilterAttrs][]byte
	for i, v := range sink.attrs[:sink.n] {
		fraw[i] = cutAttr(v)
	}
	filter := fraw[:sink.n]
	if count == 0 && len(filter) == 0 {
		return &scopeOnly[scope&3]
	}
	h := uint64(count)<<2 | uint64(scope&3)
	for _, list := range [2][][]byte{raw[:n], filter} {
		for _, v := range list {
			h = h*0x9e3779b97f4a7c15 ^ maphash.Bytes(searchNamesSeed, v)
		}
		h = h*0x9e3779b97f4a7c15 ^ uint64(len(list))
	}
	slot := &searchNamesTable[h&(searchNamesSlots-1)]
	if e := slot.Load(); e != nil && e.h == h && e.names.Scope == scopeNames[scope&3] && sameNames(&e.names, raw[:n], count, filter) {
		return &e.names
	}
	e := &searchNamesEntry{h: h, names: flow.LDAPSearchNames{Scope: scopeNames[scope&3]}}
	names := make([]string, 0, n+len(filter)) // the two lists share one array
	for _, v := range raw[:n] {
		names = append(names, attrName(v))
	}
	if n > 0 {
		e.names.Attributes = names[:n:n]
	}
	for _, v := range filter {
		names = append(names, attrName(v))
	}
	if len(names) > n {
		e.names.FilterAttributes = names[n:]
	}
	e.names.AttributeCount = count
	slot.Store(e)
	return &e.names
}

// cutAttr bounds an attribute name as attrName keeps it: attrName(v) is string(cutAttr(v)),
// the common names being shorter than maxAttrLen.
func cutAttr(v []byte) []byte {
	if len(v) > maxAttrLen {
		return v[:maxAttrLen]
	}
	return v
}

// sameNames reports whether block b holds the names attrs and filter (bounded by cutAttr) and
// count.
func sameNames(b *flow.LDAPSearchNames, attrs [][]byte, count int, filter [][]byte) bool {
	if b.AttributeCount != count || len(b.Attributes) != len(attrs) || len(b.FilterAttributes) != len(filter) {
		return false
	}
	for i, v := range attrs {
		if b.Attributes[i] != string(v) {
			return false
		}
	}
	for i, v := range filter {
		if b.FilterAttributes[i] != string(v) {
			return false
		}
	}
	return true
}
