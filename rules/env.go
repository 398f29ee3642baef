package rules

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Env is what every expression of a policy sees: one value per flow, filled from the
// flow.Record when the flow ends. The expr tags are the names expressions use; the protocol
// facts are the detectors' own structs, read through their expr tags (see classify/flow and
// the detectors' READMEs). A fact pointer is nil when the flow carries no such facts:
// `tls != nil && tls.version == "1.0"`, or `tls?.version`.
//
// Rules with `each` see one more name, `it`, typed as the element of the list they iterate.
type Env struct {
	Protocol  string `expr:"protocol"`  // the record's label: "ntp", "sip", "sip-tls", "ldap", "ldaps"
	Transport string `expr:"transport"` // "tcp" or "udp"
	// Client opened the flow (or sent the requests); Server answered.
	Client Endpoint `expr:"client"`
	Server Endpoint `expr:"server"`
	// Packets, Bytes (IP bytes) and PayloadBytes (transport payload) of both directions.
	Packets      int `expr:"packets"`
	Bytes        int `expr:"bytes"`
	PayloadBytes int `expr:"payload_bytes"`
	// File is the capture the flow's first packet came from; FirstFrame that packet's frame
	// number.
	File       string `expr:"file"`
	FirstFrame int    `expr:"first_frame"`
	// Start and End are the packet times of the first and the last packet, in UTC; Duration
	// is End - Start in seconds (a float: `duration > 300`).
	Start    time.Time `expr:"start"`
	End      time.Time `expr:"end"`
	Duration float64   `expr:"duration"`
	// EndReason is "eof", "fin", "rst", "idle" or "evicted"; ClientKnown is true when a TCP
	// SYN (or the detector) fixed which side is the client.
	EndReason   string `expr:"end_reason"`
	ClientKnown bool   `expr:"client_known"`
	// ParseErrors counts payloads the detector could not parse, Gaps the TCP sequence gaps,
	// Cut is true when inspection stopped at the per-flow inspection window.
	ParseErrors int  `expr:"parse_errors"`
	Gaps        int  `expr:"gaps"`
	Cut         bool `expr:"cut"`

	// How the flow arrived. VLAN and InnerVLAN are the ids of the first two VLAN tags of the
	// frame that carried it (QinQ: the outer, then the inner), -1 when absent. Tunnel lists
	// its tunnel layers, outermost first (empty when not tunnelled): `tunnel[0].type`,
	// `any(tunnel, .type == "gre" && .id == 7)`. VNI is the VNI of the innermost VXLAN or
	// Geneve layer, -1 when there is none: `vni == 5001` limits a rule to one virtual network.
	VLAN      int      `expr:"vlan"`
	InnerVLAN int      `expr:"inner_vlan"`
	Tunnel    []Tunnel `expr:"tunnel"`
	VNI       int      `expr:"vni"`

	// The protocol facts (nil when absent).
	NTP  *flow.NTPFacts  `expr:"ntp"`
	SIP  *flow.SIPFacts  `expr:"sip"`
	LDAP *flow.LDAPFacts `expr:"ldap"`
	TLS  *flow.TLSFacts  `expr:"tls"`

	// Lists are the policy's named lists (settings.lists): `it.mechanism in lists.deprecated_sasl`.
	Lists map[string][]string `expr:"lists"`
	// StandardPort is true when the server port is one of settings.standard_ports for the
	// record's label; TLSPort when it is one of settings.tls_ports.
	StandardPort bool `expr:"standard_port"`
	TLSPort      bool `expr:"tls_port"`
	// Certain is true when the detector's label rests on evidence other protocols do not
	// produce by chance beyond the message that made the claim (flow.Record.Certain): a rule
	// whose only evidence is the label, such as a protocol on a non-standard port, tests it.
	Certain bool `expr:"certain"`

	// lazy holds what the address strings (Client.IP, Server.IP and the tunnel endpoints)
	// are made of while they are not written: most flows raise nothing and never need them,
	// so fillEnvLazy leaves them to materialize, which whatever reads them calls first.
	lazy lazyAddrs `expr:"-"`
}

// lazyAddrs are the addresses of a flow whose strings are not written yet (pending).
type lazyAddrs struct {
	pending        bool
	client, server netip.Addr
	tunnel         []flow.Tunnel
}

// Endpoint is one side of a flow: client.ip, server.port, client.payload_bytes, ...
type Endpoint struct {
	IP           string `expr:"ip"` // canonical text ("192.0.2.1", "2001:db8::1"); IPv4-mapped IPv6 unmapped
	Port         int    `expr:"port"`
	Packets      int    `expr:"packets"`       // sent by this side
	Bytes        int    `expr:"bytes"`         // IP bytes sent by this side
	PayloadBytes int    `expr:"payload_bytes"` // transport payload bytes sent by this side
}

// Tunnel is one tunnel layer of a flow (see flow.Tunnel): tunnel[i].type, .source, ...
type Tunnel struct {
	Type        string `expr:"type"`        // "gre", "pptp", "erspan", "vxlan", "geneve", "gtp-u", "mpls", "pppoe", "ip-in-ip", "capwap"
	Source      string `expr:"source"`      // outer endpoint on the client's side; "" for MPLS and PPPoE
	Destination string `expr:"destination"` // the other outer endpoint
	ID          int    `expr:"id"`          // VNI, GRE key, ERSPAN session, GTP-U TEID, MPLS label, PPPoE session, PPTP call id; -1 when none
	VLAN        int    `expr:"vlan"`        // VLAN id of the frame that carried the layer, -1 when untagged
}

// endpoint is one side of the flow, without its IP string (see materialize).
func endpoint(ap netip.AddrPort, pk, by, pl uint64) Endpoint {
	return Endpoint{Port: int(ap.Port()), Packets: int(pk), Bytes: int(by), PayloadBytes: int(pl)}
}

// fillEnv sets e from r, the address strings included. It allocates only those strings.
// (A function, not a method: reflect.StructOf cannot embed *Env in the environment of each
// rules if Env has methods.)
func fillEnv(e *Env, r *flow.Record, s *Settings) {
	ps := newPortSets(s)
	fillEnvLazy(e, r, s.Lists, &ps)
	materialize(e)
}

// portSets are the settings' ports as fillEnvLazy looks them up for every record: the
// standard ports by label, the TLS ports as a list (a handful: no hashing).
type portSets struct {
	standard [flow.NumLabels][]uint16
	tls      []uint16
}

func newPortSets(s *Settings) portSets {
	var ps portSets
	for l, ports := range s.StandardPorts {
		if l < flow.NumLabels {
			ps.standard[l] = ports
		}
	}
	for p := range s.TLSPorts {
		ps.tls = append(ps.tls, p)
	}
	return ps
}

// fillEnvLazy sets e from r except for the address strings of the endpoints and of the
// tunnel layers, which materialize writes when something reads them. It allocates nothing.
func fillEnvLazy(e *Env, r *flow.Record, lists map[string][]string, ps *portSets) {
	tun := e.Tunnel[:0]
	start, end := r.Start.Time(), r.End.Time()
	*e = Env{
		Protocol:     r.Label.String(),
		Transport:    r.Transport.String(),
		Client:       endpoint(r.Client, r.Packets[0], r.Bytes[0], r.Payload[0]),
		Server:       endpoint(r.Server, r.Packets[1], r.Bytes[1], r.Payload[1]),
		Packets:      int(r.Packets[0] + r.Packets[1]),
		Bytes:        int(r.Bytes[0] + r.Bytes[1]),
		PayloadBytes: int(r.Payload[0] + r.Payload[1]),
		File:         r.File.String(),
		FirstFrame:   int(r.FirstFrame),
		Start:        start,
		End:          end,
		Duration:     end.Sub(start).Seconds(),
		EndReason:    r.EndReason.String(),
		ClientKnown:  r.ClientKnown,
		ParseErrors:  int(r.ParseErrors),
		Gaps:         int(r.Gaps),
		Cut:          r.Cut,
		NTP:          r.NTP,
		SIP:          r.SIP,
		LDAP:         r.LDAP,
		TLS:          r.TLS,
		Lists:        lists,
		TLSPort:      slices.Contains(ps.tls, r.Server.Port()),
		Certain:      r.Certain,
		VLAN:         -1,
		InnerVLAN:    -1,
		VNI:          -1,
		lazy:         lazyAddrs{pending: true, client: r.Client.Addr(), server: r.Server.Addr(), tunnel: r.TunnelLayers()},
	}
	if r.Label < flow.NumLabels {
		e.StandardPort = slices.Contains(ps.standard[r.Label], r.Server.Port())
	}
	if r.NVLAN > 0 {
		e.VLAN = int(r.VLAN[0])
	}
	if r.NVLAN > 1 {
		e.InnerVLAN = int(r.VLAN[1])
	}
	for _, t := range r.TunnelLayers() {
		et := Tunnel{Type: t.Type, ID: -1, VLAN: -1}
		if t.HasID {
			et.ID = int(t.ID)
			if t.Type == "vxlan" || t.Type == "geneve" {
				e.VNI = et.ID
			}
		}
		if t.HasVLAN {
			et.VLAN = int(t.VLAN)
		}
		tun = append(tun, et)
	}
	if len(tun) > 0 {
		e.Tunnel = tun
	}
}

// materialize writes the address strings fillEnvLazy left out: the IP of each endpoint and
// the outer endpoints of each tunnel layer. It does nothing when they are written already.
func materialize(e *Env) {
	l := &e.lazy
	if !l.pending {
		return
	}
	e.Client.IP, e.Server.IP = ipString(l.client), ipString(l.server)
	for i, t := range l.tunnel {
		if i < len(e.Tunnel) && t.Source.IsValid() {
			e.Tunnel[i].Source, e.Tunnel[i].Destination = t.Source.String(), t.Destination.String()
		}
	}
	*l = lazyAddrs{}
}

// ipString is an endpoint's IP as Env.Client.IP has it: canonical text, IPv4-mapped IPv6
// unmapped.
func ipString(a netip.Addr) string { return a.Unmap().String() }

// appendIP appends ipString(a) to dst without making the string.
func appendIP(dst []byte, a netip.Addr) []byte {
	a = a.Unmap()
	if !a.IsValid() {
		return append(dst, "invalid IP"...) // what String says of it
	}
	return a.AppendTo(dst)
}

var (
	envType   = reflect.TypeFor[Env]()
	eventType = reflect.TypeFor[flow.Event]()
)

// exprName is the name expr gives a struct field: its expr tag, else its Go name; ok is false
// for a field expr does not see.
func exprName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	switch tag := f.Tag.Get("expr"); tag {
	case "-":
		return "", false
	case "":
		return f.Name, true
	default:
		return tag, true
	}
}

// fieldPath finds the field expr calls name in struct type t, looking through embedded
// structs as expr does. It returns the reflect index path.
func fieldPath(t reflect.Type, name string) ([]int, reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if n, ok := exprName(f); ok && n == name && !f.Anonymous {
			return []int{i}, f.Type, true
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.Anonymous {
			continue
		}
		if n, ok := exprName(f); ok && n == name {
			return []int{i}, f.Type, true
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			if p, typ, ok := fieldPath(ft, name); ok {
				return append([]int{i}, p...), typ, true
			}
		}
	}
	return nil, nil, false
}

// eachPath is a resolved `each: a.b.c` path from Env to a list.
type eachPath struct {
	steps  [][]int // index paths, one per segment; pointers between them are followed
	elem   reflect.Type
	tunnel bool // the list is Env.Tunnel, whose strings materialize writes
	// The same path as offsets: from Env, add off, then follow the pointer there when deref
	// (nil: no list); at the end a slice (array: the array's length).
	ops   []pathOp
	array int // the length of the list when it is an array, -1 for a slice
}

// pathOp is one step of eachPath.ops.
type pathOp struct {
	off   uintptr
	deref bool
}

// at returns where the list's elements start and how many there are, without reflection;
// ok is false when a pointer on the way is nil.
func (p *eachPath) at(env *Env) (base unsafe.Pointer, n int, ok bool) {
	q := unsafe.Pointer(env)
	for _, op := range p.ops {
		q = unsafe.Add(q, op.off)
		if op.deref {
			if q = *(*unsafe.Pointer)(q); q == nil {
				return nil, 0, false
			}
		}
	}
	if p.array >= 0 {
		return q, p.array, true
	}
	l := *(*[]byte)(q) // every slice has the same header
	return unsafe.Pointer(unsafe.SliceData(l)), len(l), true
}

// resolveEach resolves a dotted path of expr names from Env to a slice or array. The error
// string says which segment is wrong.
func resolveEach(path string) (*eachPath, string) {
	t := envType
	p := &eachPath{}
	segs := strings.Split(path, ".")
	var off uintptr // offset not yet in p.ops
	deref := func() {
		for t.Kind() == reflect.Pointer {
			p.ops = append(p.ops, pathOp{off: off, deref: true})
			off = 0
			t = t.Elem()
		}
	}
	for i, seg := range segs {
		deref()
		if t.Kind() != reflect.Struct {
			return nil, quote(path) + " is not a list: " + strings.Join(segs[:i], ".") + " is a " + t.String()
		}
		idx, ft, ok := fieldPath(t, seg)
		if !ok {
			return nil, "unknown field " + quote(strings.Join(segs[:i+1], "."))
		}
		p.steps = append(p.steps, idx)
		for _, j := range idx { // through embedded structs, and the pointers list follows
			deref()
			off += t.Field(j).Offset
			t = t.Field(j).Type
		}
		t = ft
	}
	deref()
	if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
		return nil, quote(path) + " is not a list (it is a " + t.String() + ")"
	}
	p.ops = append(p.ops, pathOp{off: off})
	p.array = -1
	if t.Kind() == reflect.Array {
		p.array = t.Len()
	}
	p.elem = t.Elem()
	p.tunnel = segs[0] == "tunnel"
	return p, ""
}

func quote(s string) string { return `"` + s + `"` }

// list returns the list the path names in env, or an invalid Value when a pointer on the way
// is nil (no facts: no elements).
func (p *eachPath) list(env *Env) reflect.Value {
	v := reflect.ValueOf(env).Elem()
	for _, idx := range p.steps {
		for _, i := range idx {
			for v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return reflect.Value{}
				}
				v = v.Elem()
			}
			v = v.Field(i)
		}
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// eachType is the environment of the rules that iterate over lists of one element type: a
// struct embedding *Env (so every Env name is there) with one more field, `it`.
type eachType struct {
	typ   reflect.Type // struct{ *Env; It elem `expr:"it"` }
	elem  reflect.Type
	event []int // index path of the element's flow.Event, nil if it has none
}

type typeKey = reflect.Type

func newEachType(elem reflect.Type) *eachType {
	return &eachType{
		typ: reflect.StructOf([]reflect.StructField{
			{Name: "Env", Type: reflect.PointerTo(envType), Anonymous: true},
			{Name: "It", Type: elem, Tag: `expr:"it"`},
		}),
		elem:  elem,
		event: eventPath(elem),
	}
}

// eventPath finds where a value of type t holds its flow.Event: t itself (nil path, ok), an
// embedded Event, or the first field of type Event ("At"). It returns nil, false when there is
// none.
func eventPath(t reflect.Type) []int {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == eventType {
		return nil
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && f.Type == eventType {
			return []int{i}
		}
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Type == eventType {
			return []int{i}
		}
	}
	return nil
}

// eachEnv is a Checker's value of an eachType: Env points at the checker's Env, It is set to
// each element in turn.
type eachEnv struct {
	it  reflect.Value // the It field, settable
	env any           // the *struct, as passed to the VM
}

func (t *eachType) newEnv(env *Env) *eachEnv {
	v := reflect.New(t.typ)
	v.Elem().Field(0).Set(reflect.ValueOf(env))
	return &eachEnv{it: v.Elem().Field(1), env: v.Interface()}
}
