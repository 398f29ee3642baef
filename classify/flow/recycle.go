package flow

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Recycling of the protocol facts.
//
// A detector takes a flow's facts from NewNTPFacts, NewSIPFacts, NewLDAPFacts or NewTLSFacts,
// which reuse facts given back with Record.ReleaseFacts. The facts have one owner at a time:
// the flow while it is open, then the record the engine emits, then whoever consumes that
// record last. The engine never releases them itself, as it cannot know when the consumers of
// a record are done with it; a pipeline that can (the audit: after the last sink's Flow
// returned) calls ReleaseFacts once, and a consumer that keeps a record beyond its call keeps
// a Clone. A record nobody releases is simply left to the garbage collector.
//
// What is reused: the facts structs, with the small lists they hold inline (SIP codes), and
// the backing arrays of their top-level lists (LDAP binds and searches, SIP codes, TLS alerts)
// up to a few elements. What is never reused, so that it may be kept: strings, the
// out-of-line parts (NTPRare, NTPAuth, SIPAuthPart, SIPMediaPart, SIPScannerPart,
// SIPMethodsRare, LDAPOpsRare, LDAPExtendedPart, LDAPStartTLS: dropped, a recycled value starts
// with the shared empty blocks again), what list elements point to (an LDAP search's block of
// attribute names, shared by every search that asks the same; an SDP media's suites), the
// TLS server facts (shared by the certificate cache) and client facts (shared by every flow
// whose client made the same offer, with their cipher-name lists), the lists of one SIP Via
// transport and of one or two NTP modes, and the protections of NTP messages. The shared
// read-only blocks are never put in a pool.

// keepElems is the most elements a list's backing array may have to be kept with its facts
// when they are recycled: the one or two entries most flows have. A larger one is dropped, so
// that recycled facts hold no more memory than new ones would.
const keepElems = 4

// The pools of facts, one per type. A value in a pool is empty (reset), new ones too.
var ntpPool, sipPool, ldapPool, tlsPool = pool[NTPFacts](), pool[SIPFacts](), pool[LDAPFacts](), pool[TLSFacts]()

// facts is what the recycling needs of a facts type: a pointer to it that can empty it.
type facts[T any] interface {
	*T
	reset()
}

// pool returns a pool of facts of type T whose new values are emptied as recycled ones are.
func pool[T any, P facts[T]]() *sync.Pool {
	return &sync.Pool{New: func() any {
		x := P(new(T))
		x.reset()
		return x
	}}
}

// take returns empty facts from p.
func take[T any, P facts[T]](p *sync.Pool) P {
	x := p.Get().(P)
	if poisoned.Load() {
		x.reset()
	}
	return x
}

// give empties x and puts it in p (filled with garbage first with PoisonReleasedFacts).
func give[T any, P facts[T]](p *sync.Pool, x P) {
	if x == nil {
		return
	}
	x.reset()
	if poison.Load() {
		poisonValue(reflect.ValueOf(x).Elem())
	}
	p.Put(x)
}

// poison, when set (by tests: PoisonReleasedFacts), fills released facts with garbage before
// they go back to their pool, so that a consumer still reading them after the release shows
// in its output. poisoned stays set once poison was: the pools may hold garbage, so the New
// functions then empty every value they hand out.
var poison, poisoned atomic.Bool

// NewNTPFacts returns empty NTP facts, their rare part the shared empty block: recycled ones
// when there are, else new ones.
func NewNTPFacts() *NTPFacts { return take[NTPFacts](ntpPool) }

// NewSIPFacts returns empty SIP facts, their parts the shared empty blocks: recycled ones
// when there are, else new ones.
func NewSIPFacts() *SIPFacts { return take[SIPFacts](sipPool) }

// NewLDAPFacts returns empty LDAP facts, the rare part of their operation counters the shared
// empty block: recycled ones when there are, else new ones.
func NewLDAPFacts() *LDAPFacts { return take[LDAPFacts](ldapPool) }

// NewTLSFacts returns empty TLS facts, their server part the shared empty block: recycled ones
// when there are, else new ones.
func NewTLSFacts() *TLSFacts { return take[TLSFacts](tlsPool) }

// ReleaseFacts gives the record's protocol facts back to be reused by later flows, and clears
// its pointers to them. Call it only as the facts' last holder: when the flow has ended (never
// on an interim record, whose facts the open flow still writes) and every consumer of the
// record is done with it, without having kept a pointer into the facts or a slice of their
// lists (strings may be kept). Facts no New function made are recycled as well.
func (r *Record) ReleaseFacts() {
	give(ntpPool, r.NTP)
	give(sipPool, r.SIP)
	give(ldapPool, r.LDAP)
	give(tlsPool, r.TLS)
	r.NTP, r.SIP, r.LDAP, r.TLS = nil, nil, nil, nil
}

// Clone returns a copy of r that stays as it is when r's facts are released: the facts, and
// the lists of theirs that recycled facts reuse, are copied; the parts that are never reused
// (strings, out-of-line parts, shared blocks) are shared.
func (r *Record) Clone() Record {
	c := *r
	if x := r.NTP; x != nil {
		n := *x
		n.Modes = slices.Clone(x.Modes)
		c.NTP = &n
	}
	if s := r.SIP; s != nil {
		n := *s
		n.Codes = slices.Clone(s.Codes)
		n.ViaTransports = slices.Clone(s.ViaTransports)
		c.SIP = &n
	}
	if l := r.LDAP; l != nil {
		n := *l
		n.Binds, n.Searches = slices.Clone(l.Binds), slices.Clone(l.Searches)
		c.LDAP = &n
	}
	if t := r.TLS; t != nil {
		n := *t
		n.Alerts = slices.Clone(t.Alerts)
		c.TLS = &n
	}
	return c
}

// reuse returns s emptied for reuse (length 0, the old elements cleared so that they keep
// nothing alive), or nil when its backing array is larger than new facts would have.
func reuse[T any](s []T) []T {
	if cap(s) > keepElems {
		return nil
	}
	s = s[:cap(s)]
	clear(s)
	return s[:0]
}

// reset empties the facts to read exactly as NewNTPFacts's.
func (x *NTPFacts) reset() {
	*x = NTPFacts{NTPAuth: &noNTPAuth, NTPRare: &noNTPRare,
		Request: NTPTime{NTPTimeAuth: &ntpTimeAuths[0]}, Response: NTPTime{NTPTimeAuth: &ntpTimeAuths[0]}}
}

// reset empties the facts to read as NewSIPFacts's, keeping the small backing array of
// Codes (the facts' own, or a grown one).
func (s *SIPFacts) reset() {
	*s = SIPFacts{Methods: SIPMethods{SIPMethodsRare: &noSIPMethods}, SIPAuthPart: &noSIPAuth, SIPMediaPart: &noSIPMedia,
		SIPScannerPart: &noSIPScanner, Codes: reuse(s.Codes)}
}

// reset empties the facts to read as new ones, keeping the small backing arrays of their lists.
func (l *LDAPFacts) reset() {
	*l = LDAPFacts{Ops: LDAPOps{LDAPOpsRare: &noLDAPOpsRare}, LDAPExtendedPart: &noLDAPExtended,
		Binds: reuse(l.Binds), Searches: reuse(l.Searches)}
}

// reset empties the facts to read as NewTLSFacts's, keeping the small backing array of the
// alert list. The client and server facts are shared with other flows: they are dropped,
// never reused.
func (t *TLSFacts) reset() {
	*t = TLSFacts{Client: &noTLSClient, Server: &noTLSServer, Alerts: reuse(t.Alerts)}
}

// PoisonReleasedFacts is for tests: while on, released facts are filled with garbage before
// they are reused (and emptied again when a New function hands them out), so that a consumer
// that reads facts after their release, or keeps a list of theirs, writes garbage instead of
// what it should. Unless it was ever turned on, it costs one atomic load per release and per
// New.
func PoisonReleasedFacts(on bool) {
	if on {
		poisoned.Store(true)
	}
	poison.Store(on)
}

// poisonValue fills v (addressable) with garbage: every number, string and flag in it, the
// elements of its lists up to their capacity, and the arrays it holds. It writes only memory
// the facts own: a pointer (to a shared block, or an out-of-line part that may be kept) is
// replaced by one to a new garbage value, never written through.
func poisonValue(v reflect.Value) {
	if !v.CanSet() {
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-0x5a5a5a5a5a5a5a5b)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(0xa5a5a5a5a5a5a5a5)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(-987654.321)
	case reflect.String:
		v.SetString("\u2620released")
	case reflect.Array:
		for i := range v.Len() {
			poisonValue(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			poisonValue(v.Field(i))
		}
	case reflect.Slice:
		v.Set(v.Slice(0, v.Cap()))
		for i := range v.Len() {
			poisonValue(v.Index(i))
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		poisonValue(p.Elem())
		v.Set(p)
	}
}
