package classify

import (
	"math"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// preFlow is what a TCP flow's packets leave behind before its flow.Open is made. A TCP flow
// gets its Open (256 bytes: the Record and the detector's state) with its first payload, the
// first thing a detector needs; until then, through the handshake and any bare ACKs, its
// counts, times, first frame and how it arrived wait here, in 64 bytes the reassembly state
// points to (tcpState.pre). A flow that ends without payload is reported from it alone, with
// the record an Open would have given. On a busy link many connections sit between their
// SYN-ACK and their first request at any moment.
type preFlow struct {
	start, end flow.Time // packet times of the first and of the latest packet
	first      uint64    // frame of the first packet
	tun        *flow.Tunnels
	packets    [2]uint32 // by Dir
	bytes      [2]uint32 // IP bytes by Dir
	file       flow.FileRef
	vlan       [2]uint16
	nvlan      uint8
	// clientKnown: a SYN fixed the client (see flow.Record.ClientKnown).
	clientKnown bool
}

// count adds a packet without payload of direction d, ipLen IP bytes at t. It reports false,
// counting nothing, when a counter would outgrow its 32 bits: the flow then needs its Open.
func (p *preFlow) count(d flow.Dir, ipLen int, t flow.Time) bool {
	if p.packets[d] == math.MaxUint32 || uint64(p.bytes[d])+uint64(ipLen) > math.MaxUint32 {
		return false
	}
	p.packets[d]++
	p.bytes[d] += uint32(ipLen)
	if t.After(p.end) {
		p.end = t
	}
	return true
}

// record writes the flow's record so far into r: a TCP flow of key k that carried no payload.
func (p *preFlow) record(r *flow.Record, k *key, clientIsA bool) {
	*r = flow.Record{
		FirstFrame: p.first, Start: p.start, End: p.end,
		Client: k.addrPort(!clientIsA), Server: k.addrPort(clientIsA),
		Tunnel: p.tun, File: p.file, VLAN: p.vlan, NVLAN: p.nvlan,
		Transport: flow.TCP, ClientKnown: p.clientKnown,
	}
	for d := range p.packets {
		r.Packets[d], r.Bytes[d] = uint64(p.packets[d]), uint64(p.bytes[d])
	}
}

// pre returns the preFlow of a TCP flow whose Flow is not made yet, else nil.
func (en *entry) pre() *preFlow {
	if en.tcp == nil {
		return nil
	}
	return en.tcp.pre
}

// deferFlow gives a new TCP flow its reassembly state, holding a copy of v (from the pool)
// in place of the Open it does not have yet.
func (e *Engine) deferFlow(en *entry, v *preFlow) {
	var p *preFlow
	if n := len(e.freePre); n > 0 {
		p = e.freePre[n-1]
		e.freePre[n-1] = nil
		e.freePre = e.freePre[:n-1]
	} else {
		p = new(preFlow)
	}
	*p = *v
	en.tcp = e.getTCP()
	en.tcp.pre = p
}

// born makes the Open of a TCP flow that has a preFlow, with what the preFlow holds.
func (e *Engine) born(en *entry) {
	p := en.tcp.pre
	p.record(&e.getFlow(en).Record, &en.key, en.clientIsA)
	en.tcp.pre = nil
	e.putPre(p)
}

// dropPre lets go the preFlow of a flow that ends, or that will never be reported, and the
// reassembly state that held it.
func (e *Engine) dropPre(en *entry) {
	p := en.tcp.pre
	en.tcp.pre = nil
	e.putPre(p)
	e.releaseTCP(en)
}

func (e *Engine) putPre(p *preFlow) {
	*p = preFlow{}
	if len(e.freePre) < maxPooled {
		e.freePre = append(e.freePre, p)
	}
}
