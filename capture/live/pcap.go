//go:build libpcap

package live

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"

	"github.com/pcapaudit/pcapaudit/capture"
)

// havePcap: this build has the libpcap backend.
const havePcap = true

// snapLen is libpcap's largest snap length (MAXIMUM_SNAPLEN): whole frames.
const snapLen = 262144

// pcapTick is the longest libpcap waits at a time: gopacket's pcap has no way to wake a reader
// waiting in libpcap, so Next waits in steps of this and looks at the stop flag in between.
const pcapTick = 50 * time.Millisecond

// pcapCapture is the libpcap backend: one handle, one Source. libpcap on Linux reads its own
// TPACKET_V3 ring and puts a VLAN tag the kernel stripped back into the frame, so Packet.VLAN
// is never set here: the decoder finds the tag in Data.
type pcapCapture struct {
	iface string
	h     *pcap.Handle
	poll  time.Duration

	mu    sync.Mutex // held by Next and close: close never frees the handle under a reader
	done  bool
	frame uint64

	stopped atomic.Bool
	stopAt  atomic.Int64 // UnixNano of Stop: packets stamped later are not delivered

	delivered, bytes atomic.Uint64

	statsMu sync.Mutex
	last    pcap.Stats // libpcap's cumulative 32-bit counters at the last read
	sum     Stats
	closed  bool
}

func openPcap(cfg Config) (_ backend, err error) {
	in, err := pcap.NewInactiveHandle(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("live: interface %q: %w", cfg.Interface, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(snapLen) },
		func() error { return in.SetPromisc(cfg.Promiscuous) },
		func() error { return in.SetTimeout(min(cfg.PollTimeout, pcapTick)) },
		func() error { return in.SetBufferSize(cfg.BlockSize * cfg.NumBlocks) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("live: interface %q: %w", cfg.Interface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, fmt.Errorf("live: interface %q: libpcap: %w", cfg.Interface, err)
	}
	c := &pcapCapture{iface: cfg.Interface, h: h, poll: cfg.PollTimeout}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if lt := h.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("live: %s: not an Ethernet interface (link type %v)", cfg.Interface, lt)
	}
	// libpcap filters in user space what its ring held before the filter was set, so no
	// packet the filter rejects is delivered.
	if err := c.setFilter(cfg.Filter, cfg.FilterExpr); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *pcapCapture) sources() []Source { return []Source{c} }

// setFilter compiles an expression on the open handle: libpcap then generates the code of a
// live capture on this interface (its VLAN tests read the kernel's metadata), which
// pcap_open_dead would not.
func (c *pcapCapture) setFilter(prog []bpf.RawInstruction, expr string) error {
	switch {
	case expr != "":
		if err := c.h.SetBPFFilter(expr); err != nil {
			return fmt.Errorf("live: filter %q on %s: %w", expr, c.iface, err)
		}
	case len(prog) > 0:
		if err := checkProgram(prog); err != nil {
			return fmt.Errorf("live: filter: %w", err)
		}
		ins := make([]pcap.BPFInstruction, len(prog))
		for i, r := range prog {
			ins[i] = pcap.BPFInstruction{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		if err := c.h.SetBPFInstructionFilter(ins); err != nil {
			return fmt.Errorf("live: %s: libpcap refused the filter: %w", c.iface, err)
		}
	default:
		if err := c.h.SetBPFFilter(""); err != nil { // everything
			return fmt.Errorf("live: %s: clearing the filter: %w", c.iface, err)
		}
	}
	return nil
}

// stop does not touch the filter: libpcap would apply a new one to the packets already in its
// ring. Next instead ends at the first packet stamped after Stop, or at a poll timeout.
func (c *pcapCapture) stop() {
	c.stopAt.Store(time.Now().UnixNano())
	c.stopped.Store(true)
}

func (c *pcapCapture) close() error {
	c.stats()
	c.mu.Lock()
	c.done = true
	c.statsMu.Lock()
	c.closed = true
	c.statsMu.Unlock()
	c.h.Close()
	c.mu.Unlock()
	return nil
}

func (c *pcapCapture) stats() []Stats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	if !c.closed {
		// pcap_stats reads the socket's counters and adds them to libpcap's own, which only
		// pcap_stats writes on Linux: safe beside a reader in pcap_next_ex (statsMu keeps two
		// Stats calls apart).
		if st, err := c.h.Stats(); err == nil {
			// Cumulative counters kept by libpcap in 32 bits: add the difference, modulo 2^32.
			c.sum.Packets += uint64(uint32(st.PacketsReceived) - uint32(c.last.PacketsReceived))
			c.sum.Drops += uint64(uint32(st.PacketsDropped) - uint32(c.last.PacketsDropped))
			c.sum.IfDrops += uint64(uint32(st.PacketsIfDropped) - uint32(c.last.PacketsIfDropped))
			c.last = *st
		}
	}
	s := c.sum
	s.Delivered = c.delivered.Load()
	s.Bytes = c.bytes.Load()
	return []Stats{s}
}

// Next implements Source.
func (c *pcapCapture) Next(p *capture.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return ErrStopped
	}
	var deadline time.Time
	for {
		data, ci, err := c.h.ZeroCopyReadPacketData()
		stopped := c.stopped.Load()
		switch {
		case err == nil:
			if stopped && ci.Timestamp.UnixNano() > c.stopAt.Load() {
				c.done = true
				return ErrStopped
			}
			c.deliver(p, data, ci.Timestamp, ci.Length)
			return nil
		case errors.Is(err, pcap.NextErrorTimeoutExpired):
			now := time.Now()
			// libpcap's ring hands over a partly filled block within two of its timeouts
			// (pcapTick): only a wait that ends later has seen everything captured.
			if stopped && now.UnixNano() > c.stopAt.Load()+int64(3*pcapTick) {
				c.done = true
				return ErrStopped
			} else if stopped {
				continue
			}
			if deadline.IsZero() {
				deadline = now.Add(c.poll - min(c.poll, pcapTick))
			}
			if !now.Before(deadline) {
				return ErrTimeout
			}
		default:
			// A live handle may recover (libpcap says why in pcap_geterr); wait a step so a
			// caller that carries on does not spin on a removed interface.
			msg := c.h.Error()
			time.Sleep(pcapTick)
			return fmt.Errorf("live: %s: %w (%v)", c.iface, err, msg)
		}
	}
}

func (c *pcapCapture) deliver(p *capture.Packet, data []byte, ts time.Time, length int) {
	c.frame++
	p.Data = data
	p.Timestamp = ts
	p.Length = length
	p.LinkType = layers.LinkTypeEthernet
	p.Frame = c.frame
	p.File = c.iface
	p.VLAN, p.HasVLAN = 0, false
	c.delivered.Add(1)
	c.bytes.Add(uint64(len(data)))
}

// compileLive compiles expr with libpcap on a handle opened on iface and activated, as the
// capture's own would be: the code of a live capture on that interface. The handle is closed
// before any packet is read.
func compileLive(iface, expr string) ([]bpf.RawInstruction, error) {
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("live: filter %q: interface %q: %w", expr, iface, err)
	}
	defer in.CleanUp()
	if err := in.SetSnapLen(snapLen); err != nil {
		return nil, fmt.Errorf("live: filter %q: interface %q: %w", expr, iface, err)
	}
	h, err := in.Activate()
	if err != nil {
		return nil, fmt.Errorf("live: filter %q: interface %q: libpcap: %w", expr, iface, err)
	}
	defer h.Close()
	ins, err := h.CompileBPFFilter(expr)
	if err != nil {
		return nil, fmt.Errorf("live: filter %q on %s: %w", expr, iface, err)
	}
	prog := make([]bpf.RawInstruction, len(ins))
	for i, x := range ins {
		prog[i] = bpf.RawInstruction{Op: x.Code, Jt: x.Jt, Jf: x.Jf, K: x.K}
	}
	return prog, nil
}
