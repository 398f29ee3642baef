package classify

import "github.com/pcapaudit/pcapaudit/classify/flow"

// inspect offers bytes of direction d to the claiming detector, or to the candidates in order
// while the flow is undecided. For TCP (stream true) the bytes are contiguous stream data and
// an incomplete message is kept for the next call; a UDP datagram is always presented alone.
func (e *Engine) inspect(en *entry, d flow.Dir, data []byte, stream bool) {
	if en.skip || len(data) == 0 || stream && en.tcp == nil {
		return
	}
	buf := data
	// pend: bytes of a stream kept from earlier calls (stream data comes with reassembly state).
	var pend []byte
	if stream {
		pend = en.tcp.pending(d)
	}
	buffered := len(pend) > 0
	if buffered {
		if len(pend)+len(data) > e.cfg.InspectWindow {
			e.cut(en)
			return
		}
		pend = append(pend, data...)
		en.tcp.pend[d] = pend // kept bytes mean the buffers exist
		buf = pend
	}

	if en.claimant >= 0 {
		v, n := e.call(en, uint8(en.claimant), d, buf)
		e.after(en, d, v, n, buf, stream)
		return
	}

	en.undecided++
	// A rejection is conclusive only for bytes known to start a stream: a TCP flow whose SYN
	// was captured. A UDP datagram may be a keep-alive before the first request, and a flow
	// picked up mid-stream starts inside a message: there a rejection only drops these bytes.
	soft := !stream || !en.f.ClientKnown
	maybe := false
	for i := 0; i < en.cands.len(); {
		idx := en.cands.at(i)
		v, n := e.call(en, idx, d, buf)
		if en.f.Label != flow.Unknown {
			en.claimant = int8(idx)
			en.cands = 0
			if en.f.TakeReverse() && !en.f.ClientKnown {
				e.reverse(en)
				d = 1 - d
			}
			e.after(en, d, v, n, buf, stream)
			return
		}
		en.f.TakeReverse()
		if v == flow.Reject && !soft {
			en.cands.remove(i)
			continue
		}
		maybe = maybe || v != flow.Reject
		i++
	}
	if soft && !maybe && !en.hinted {
		en.rejected++
	}
	if en.cands.len() == 0 || int(en.undecided) >= e.cfg.MaxUndecided || int(en.rejected) >= e.cfg.MaxRejected {
		e.stopInspecting(en)
		return
	}
	if !stream {
		return
	}
	if !maybe {
		en.tcp.keep(d, nil) // every candidate rejected these bytes: start afresh
		return
	}
	if !buffered {
		if len(buf) > e.cfg.InspectWindow {
			e.stopInspecting(en)
			return
		}
		en.tcp.keep(d, buf)
	}
}

// after applies the claiming detector's verdict.
func (e *Engine) after(en *entry, d flow.Dir, v flow.Verdict, n int, buf []byte, stream bool) {
	if v != flow.More {
		e.stopInspecting(en)
		return
	}
	if !stream {
		return
	}
	if n < 0 || n > len(buf) {
		n = len(buf)
	}
	rest := buf[n:]
	if len(rest) > e.cfg.InspectWindow {
		e.cut(en)
		return
	}
	en.tcp.keep(d, rest) // rest may alias the kept bytes themselves
}

// call runs one detector, turning a panic into a parse error on the flow: a hostile packet
// must never stop the audit.
func (e *Engine) call(en *entry, idx uint8, d flow.Dir, b []byte) (v flow.Verdict, n int) {
	defer func() {
		if r := recover(); r != nil {
			e.stats.Panics++
			en.f.Fail(errDetectorPanic)
			v, n = flow.Reject, 0
		}
	}()
	e.pkt.Open = en.f
	return e.dets[idx].Inspect(&e.pkt, d, b)
}

// cut stops inspecting a flow that needs more than the inspection window.
func (e *Engine) cut(en *entry) {
	en.f.Cut = true
	e.stats.Cut++
	e.stopInspecting(en)
}

// stopInspecting ends payload inspection: from now on the flow's packets are only counted.
func (e *Engine) stopInspecting(en *entry) {
	en.skip = true
	en.cands = 0
	e.releaseTCP(en) // a flow without its Flow yet keeps it (its record so far)
	e.dropState(en)  // the detector is not called again: let its per-flow state go
	e.dropFlow(en)
}

// dropState lets a flow's detector state go, back to the claiming detector's pool when it
// keeps one (flow.StateReuser).
func (e *Engine) dropState(en *entry) {
	f := en.f
	if f == nil || f.State == nil {
		return
	}
	if en.claimant >= 0 {
		if r, ok := e.dets[en.claimant].(flow.StateReuser); ok {
			r.PutState(f.State)
		}
	}
	f.State = nil
}

// reverse swaps client and server of a flow whose first payload came from the server.
func (e *Engine) reverse(en *entry) {
	en.clientIsA = !en.clientIsA
	f := en.f
	f.Client, f.Server = f.Server, f.Client
	f.Packets[0], f.Packets[1] = f.Packets[1], f.Packets[0]
	f.Bytes[0], f.Bytes[1] = f.Bytes[1], f.Bytes[0]
	f.Payload[0], f.Payload[1] = f.Payload[1], f.Payload[0]
	en.finSeen[0], en.finSeen[1] = en.finSeen[1], en.finSeen[0]
	if en.tcp != nil {
		en.tcp.s[0], en.tcp.s[1] = en.tcp.s[1], en.tcp.s[0]
		if p := en.tcp.pend; p != nil {
			p[0], p[1] = p[1], p[0]
		}
	}
}
