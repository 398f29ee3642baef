// Package live captures packets from a network interface for the sensor.
//
// Two backends deliver the same capture.Packet stream:
//
//   - "afpacket" (Linux, the default, pure Go): Config.Workers AF_PACKET sockets joined in one
//     PACKET_FANOUT hash group, so both directions of a flow reach the same socket (the kernel
//     reassembles IPv4 fragments before it chooses); each socket has its own TPACKET_V3 ring of
//     NumBlocks blocks of BlockSize bytes, read without a copy and without an allocation per
//     packet. The VLAN tag the kernel takes out of each frame is delivered in Packet.VLAN.
//   - "pcap" (only in binaries built with -tags libpcap): one libpcap handle, whatever the
//     number of cores; libpcap puts a stripped VLAN tag back into the frame itself.
//
// Packets are Ethernet frames stamped by the kernel (nanoseconds); Packet.File is the interface
// name and Packet.Frame counts from 1 per Source.
//
// Use:
//
//	c, err := live.Open(live.Config{Interface: "eth1", Workers: 4, Promiscuous: true})
//	for _, src := range c.Sources() { // one goroutine each
//		go func() {
//			var p capture.Packet
//			for {
//				err := src.Next(&p) // p.Data is valid until the next Next on src
//				switch {
//				case err == nil: // use p
//				case errors.Is(err, live.ErrTimeout): // no packet for PollTimeout: expire flows
//				case errors.Is(err, live.ErrStopped): return
//				default: // ErrInterfaceGone, or another socket error: log it
//				}
//			}
//		}()
//	}
//	c.Stop()  // on SIGTERM: readers get what was captured before, then ErrStopped
//	// wait for every reader goroutine to return, then
//	c.Close()
//
// The filter (Config.Filter or Config.FilterExpr) is in the kernel before the first packet is
// read: the afpacket sockets start with a filter that rejects everything and get the real one
// only once every socket of the group is bound and joined; libpcap filters in user space the
// packets its ring already held when the filter was set. CompileFilter compiles a tcpdump
// expression for the interface with tcpdump, or with libpcap in -tags libpcap builds (there
// is no correct pure-Go compiler of that syntax), and
// ReadFilterFile reads a program tcpdump compiled earlier (tcpdump -ddd).
//
// Stop is safe at any time and from any goroutine; Close waits for a reader still inside Next
// (at most about PollTimeout) and never unmaps a ring a reader is in. Stats are 64-bit, read
// from the kernel (which resets its counters on each read) and safe to call at any time.
package live

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/bpf"

	"github.com/pcapaudit/pcapaudit/capture"
)

// Sentinel errors of Source.Next; compare with errors.Is.
var (
	// ErrTimeout: no packet arrived within Config.PollTimeout. Call Next again.
	// It is capture.ErrTimeout, so a reader of any live source tests for one error.
	ErrTimeout = capture.ErrTimeout
	// ErrStopped: Stop was called and every packet captured before it was delivered (or the
	// capture is closed). Every later Next returns it too.
	// It is capture.ErrStopped.
	ErrStopped = capture.ErrStopped
)

// Backend names for Config.Backend.
const (
	BackendAFPacket = "afpacket"
	BackendPcap     = "pcap"
)

// ErrInterfaceGone: the interface was removed; the Source will never deliver again (Next keeps
// returning it once per poll timeout, until Stop). Reopen the capture when the interface is
// back. afpacket only: libpcap reports a read error instead.
var ErrInterfaceGone = errors.New("interface removed")

// Defaults and bounds of Config.
const (
	DefaultBlockSize   = 1 << 20 // 1 MiB
	DefaultNumBlocks   = 32      // 32 MiB of ring per worker
	DefaultPollTimeout = 100 * time.Millisecond
	MinBlockSize       = 64 << 10  // a 9000-byte jumbo frame, with room for several
	MaxBlockSize       = 256 << 20 // beyond it the kernel cannot allocate a block
	MinNumBlocks       = 2         // the kernel fills one while the reader holds another
	MaxNumBlocks       = 1 << 16
	MaxRingSize        = 16 << 30 // BlockSize x NumBlocks, per worker
	MaxWorkers         = 256      // the fanout group size of older kernels
	MaxPollTimeout     = time.Minute
)

// Config says what to capture and how.
type Config struct {
	// Interface is the name of the network interface (required).
	Interface string
	// Workers is the number of afpacket sockets in the PACKET_FANOUT hash group, one ring and
	// one Source each. 0: the number of usable cores (afpacket), 1 (pcap, which reads one
	// handle and refuses more).
	Workers int
	// FanoutGroup is the afpacket fanout group id. 0: the kernel chooses an id no other socket
	// uses (PACKET_FANOUT_FLAG_UNIQUEID), so two sensors never share a group. A fixed id is
	// only useful to spread one interface over several processes on purpose: a group with the
	// same id and settings is joined, whoever made it.
	FanoutGroup uint16
	// BlockSize and NumBlocks are the geometry of each afpacket TPACKET_V3 ring (for pcap,
	// their product is the buffer size). BlockSize must be a power of two and a multiple of
	// the page size, between MinBlockSize and MaxBlockSize; NumBlocks between MinNumBlocks and
	// MaxNumBlocks. 0: DefaultBlockSize, DefaultNumBlocks.
	BlockSize, NumBlocks int
	// Promiscuous puts the interface in promiscuous mode while the capture is open (a SPAN
	// port needs it; the kernel counts it per socket and undoes it on close).
	Promiscuous bool
	// Filter is a classic BPF program (tcpdump -ddd's output, see CompileFilter and
	// ReadFilterFile), attached in the kernel before the first packet is read. Empty: every
	// packet.
	Filter []bpf.RawInstruction
	// FilterExpr is a tcpdump filter expression, the alternative to Filter (setting both is an
	// error): afpacket compiles it with CompileFilter (tcpdump, or libpcap in -tags libpcap
	// builds), pcap with libpcap on the open handle.
	FilterExpr string
	// PollTimeout bounds how long Next waits: it returns ErrTimeout at least this often when
	// no packet arrives. 0: DefaultPollTimeout; at most MaxPollTimeout.
	PollTimeout time.Duration
	// Backend is BackendAFPacket (the default on Linux) or BackendPcap (only in binaries built
	// with -tags libpcap, and the default there on other systems).
	Backend string
}

// Source is one stream of packets, read by one goroutine.
type Source interface {
	// Next fills p with the next packet. p.Data aliases the capture's memory and is valid only
	// until the next call to Next on this Source (and never after Close). It returns
	// ErrTimeout when no packet arrived within the poll timeout (also while the link is down),
	// ErrStopped once Stop was called and what was captured before it was delivered,
	// ErrInterfaceGone (wrapped) when the interface was removed, or another socket error.
	Next(p *capture.Packet) error
}

// Stats are one socket's (or the pcap handle's) counters since Open, in 64 bits.
type Stats struct {
	// Packets is what the kernel handed to the socket after the filter, including the ones it
	// then dropped (the kernel's tp_packets, libpcap's ps_recv).
	Packets uint64
	// Drops are packets that passed the filter but found the ring full: lost.
	Drops uint64
	// QueueFreezes counts the times the ring was full and the kernel froze it until the
	// reader released a block (afpacket only; 0 for pcap).
	QueueFreezes uint64
	// IfDrops are drops the interface reported (pcap's ps_ifdrop; 0 for afpacket).
	IfDrops uint64
	// Delivered and Bytes count the packets Next returned and their captured bytes.
	Delivered, Bytes uint64
	// LinkDowns counts the times the socket reported its link down (afpacket only). Next
	// does not return that: it waits on, and capture resumes when the link is up again.
	LinkDowns uint64
}

// Capture is an open capture: its Sources, their counters, Stop and Close.
type Capture struct {
	b         backend
	stopOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// backend is what afpacket and pcap implement.
type backend interface {
	sources() []Source
	// stop makes readers deliver what was captured so far, then ErrStopped. Called once.
	stop()
	// close waits for readers inside Next, then releases everything. Called once, after stop.
	close() error
	stats() []Stats
	setFilter(prog []bpf.RawInstruction, expr string) error
}

// Open opens a capture on cfg.Interface. A bad setting, an unknown interface, a missing
// permission or a filter that does not compile is one error naming it, and nothing is left
// open.
func Open(cfg Config) (*Capture, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var b backend
	var err error
	switch cfg.Backend {
	case BackendAFPacket:
		b, err = openAFPacket(cfg)
	case BackendPcap:
		b, err = openPcap(cfg)
	}
	if err != nil {
		return nil, err
	}
	return &Capture{b: b}, nil
}

// Sources returns one Source per worker (one for pcap). Each must be read by its own
// goroutine: a Source is not safe for concurrent Next calls.
func (c *Capture) Sources() []Source { return c.b.sources() }

// Stop makes every Source deliver the packets captured so far, then return ErrStopped, within
// about PollTimeout; packets arriving after Stop are not captured. Safe to call more than once
// and from any goroutine.
func (c *Capture) Stop() { c.stopOnce.Do(c.b.stop) }

// Close stops the capture if needed, waits for any reader still inside Next, and releases the
// sockets and rings. Data returned by Next must not be used after Close. Safe to call more
// than once; Next returns ErrStopped afterwards.
func (c *Capture) Close() error {
	c.Stop()
	c.closeOnce.Do(func() { c.closeErr = c.b.close() })
	return c.closeErr
}

// Stats returns the counters of each Source, in the order of Sources. Safe to call
// concurrently with the readers, and after Close (the last values).
func (c *Capture) Stats() []Stats { return c.b.stats() }

// SetFilter replaces the filter of a running capture (for a reload): the kernel swaps it
// atomically on each socket. A program the kernel refuses, or an expression that does not
// compile, is an error and the old filter stays. An empty program and expression capture
// everything.
func (c *Capture) SetFilter(prog []bpf.RawInstruction, expr string) error {
	if len(prog) > 0 && expr != "" {
		return errors.New("live: give a filter program or a filter expression, not both")
	}
	return c.b.setFilter(prog, expr)
}

// check validates cfg and fills in the defaults.
func (cfg *Config) check() error {
	if cfg.Interface == "" {
		return errors.New("live: no interface given")
	}
	if cfg.Backend == "" {
		cfg.Backend = defaultBackend
	}
	switch cfg.Backend {
	case BackendAFPacket:
		if runtime.GOOS != "linux" {
			return fmt.Errorf("live: backend %q needs Linux (use %q in a build with -tags libpcap)", BackendAFPacket, BackendPcap)
		}
	case BackendPcap:
		if !havePcap {
			return fmt.Errorf("live: backend %q is not in this binary: build it with -tags libpcap (needs cgo and libpcap)", BackendPcap)
		}
	default:
		return fmt.Errorf("live: unknown backend %q (want %q or %q)", cfg.Backend, BackendAFPacket, BackendPcap)
	}
	switch {
	case cfg.Workers < 0 || cfg.Workers > MaxWorkers:
		return fmt.Errorf("live: %d workers: want 1 to %d (0: one per core)", cfg.Workers, MaxWorkers)
	case cfg.Workers == 0 && cfg.Backend == BackendPcap:
		cfg.Workers = 1
	case cfg.Workers == 0:
		cfg.Workers = min(runtime.GOMAXPROCS(0), MaxWorkers)
	case cfg.Workers > 1 && cfg.Backend == BackendPcap:
		return fmt.Errorf("live: backend %q reads one handle: %d workers asked, use 1 (or %q for more)", BackendPcap, cfg.Workers, BackendAFPacket)
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.NumBlocks == 0 {
		cfg.NumBlocks = DefaultNumBlocks
	}
	page := os.Getpagesize()
	switch bs := cfg.BlockSize; {
	case bs < MinBlockSize || bs > MaxBlockSize:
		return fmt.Errorf("live: ring block size %d: want %d to %d bytes", bs, MinBlockSize, MaxBlockSize)
	case bs%page != 0 || bs&(bs-1) != 0:
		return fmt.Errorf("live: ring block size %d: want a power of two and a multiple of the page size (%d)", bs, page)
	}
	if cfg.NumBlocks < MinNumBlocks || cfg.NumBlocks > MaxNumBlocks {
		return fmt.Errorf("live: %d ring blocks: want %d to %d", cfg.NumBlocks, MinNumBlocks, MaxNumBlocks)
	}
	if total := int64(cfg.BlockSize) * int64(cfg.NumBlocks); total > MaxRingSize {
		return fmt.Errorf("live: ring of %d blocks of %d bytes: %d GiB, want at most %d GiB per worker", cfg.NumBlocks, cfg.BlockSize, total>>30, MaxRingSize>>30)
	}
	switch {
	case cfg.PollTimeout == 0:
		cfg.PollTimeout = DefaultPollTimeout
	case cfg.PollTimeout < time.Millisecond || cfg.PollTimeout > MaxPollTimeout:
		return fmt.Errorf("live: poll timeout %v: want 1ms to %v", cfg.PollTimeout, MaxPollTimeout)
	}
	if len(cfg.Filter) > 0 && cfg.FilterExpr != "" {
		return errors.New("live: give a filter program or a filter expression, not both")
	}
	if len(cfg.Filter) > 0 {
		if err := checkProgram(cfg.Filter); err != nil {
			return fmt.Errorf("live: filter: %w", err)
		}
	}
	return nil
}
