//go:build linux

package live

// The afpacket backend reads TPACKET_V3 rings with golang.org/x/sys/unix rather than with
// github.com/gopacket/gopacket/afpacket, for what that package (v1.7.7) does not allow:
//
//   - its ZeroCopyReadPacketData appends an AncillaryVLAN to a fresh CaptureInfo for every
//     frame whose tag the kernel stripped: one or two allocations per packet on a trunk;
//   - NewTPacket binds the socket to the interface before a filter can be attached, so
//     packets that arrive in between enter the ring unfiltered;
//   - its Close unmaps the ring without taking the reader's lock (a reader inside
//     ZeroCopyReadPacketData then faults and the process dies), and its socket counters are
//     accumulated in 32 bits.
//
// The ring protocol itself is small (Documentation/networking/packet_mmap.rst): the kernel
// hands over a whole block by setting TP_STATUS_USER in its header; the reader walks the
// block's packets and gives it back by writing TP_STATUS_KERNEL.

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gopacket/gopacket/layers"

	"github.com/pcapaudit/pcapaudit/capture"
)

const (
	defaultBackend = BackendAFPacket

	// blockTimeout is the ring's retire timeout: the kernel hands over a block that is not
	// full after at most about twice this, so a quiet link still delivers its packets and a
	// Stop drains within a few of these.
	blockTimeout = 10 * time.Millisecond
	// frameSize only sets how the kernel counts "frames" of a TPACKET_V3 ring; packets are
	// packed in blocks whatever their size.
	frameSize = 2048

	fanoutFlags = unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_DEFRAG
)

// Filters that accept nothing and everything.
var (
	dropAll   = []bpf.RawInstruction{{Op: 0x06, K: 0}}          // ret #0
	acceptAll = []bpf.RawInstruction{{Op: 0x06, K: 0xffffffff}} // ret #-1
)

// afCapture is the afpacket backend: one socket and ring per worker.
type afCapture struct {
	iface   string
	ifindex int
	srcs    []*ring
	stopFd  int // eventfd, readable once Stop was called: wakes the readers' poll
	stopped atomic.Bool
	stopAt  atomic.Int64 // UnixNano of Stop; the drain ends about 3 block timeouts later

	// fdMu guards the sockets' descriptors (closed by release) for the calls made from outside
	// the readers (Stats, SetFilter, Stop) and the kernel counters' sums in each ring.
	fdMu sync.Mutex
}

// ring is one socket, its mapped ring and its reader's position: one Source.
type ring struct {
	c     *afCapture
	index int

	// mu is held by Next and by close: close never unmaps while a reader is inside.
	mu     sync.Mutex
	fd     int
	mem    []byte // the mapped ring, nil once closed
	bsize  int
	nblock int
	poll   time.Duration

	gone bool   // the interface was removed: the socket will never receive again
	cur  int    // block the reader is in or waits for
	held bool   // the reader holds block cur (to give back before moving on)
	left uint32 // packets of block cur not yet delivered
	off  int    // offset in mem of the next packet's header
	end  int    // offset in mem of the end of block cur
	done bool   // ErrStopped was returned

	frame uint64

	// Counters: delivered by the reader (atomics, read by Stats); kernel ones under c.fdMu.
	delivered, bytes, linkDowns atomic.Uint64
	kern                        Stats
	_                           [64]byte // keep the next ring's atomics off this cache line
}

// openAFPacket opens cfg.Workers sockets. The order matters, so that no packet the filter
// rejects is ever read and no flow starts on one socket and goes on on another:
//
//  1. each socket is made with protocol 0 (it receives nothing), gets TPACKET_V3, a filter
//     that rejects everything, its ring, and only then is bound to the interface and joins
//     the fanout group;
//  2. when every socket is in the group, each gets the real filter (or one accepting all).
func openAFPacket(cfg Config) (_ backend, err error) {
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("live: interface %q: %w", cfg.Interface, unwrapNet(err))
	}
	prog := cfg.Filter
	if cfg.FilterExpr != "" {
		if prog, err = CompileFilter(cfg.Interface, cfg.FilterExpr); err != nil {
			return nil, err
		}
	}
	c := &afCapture{iface: cfg.Interface, ifindex: ifc.Index, stopFd: -1}
	defer func() {
		if err != nil {
			c.release()
		}
	}()
	if c.stopFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("live: eventfd: %w", err)
	}
	group := fanoutGroup{id: cfg.FanoutGroup, known: cfg.FanoutGroup != 0}
	for i := range cfg.Workers {
		r := &ring{c: c, index: i, fd: -1, bsize: cfg.BlockSize, nblock: cfg.NumBlocks, poll: cfg.PollTimeout}
		c.srcs = append(c.srcs, r)
		if err := r.open(cfg, &group); err != nil {
			return nil, err
		}
	}
	if err := c.attach(prog); err != nil {
		return nil, err
	}
	return c, nil
}

// fanoutGroup is the group the sockets join. Until known, the first socket asks the kernel for
// an unused id (which may be 0: the kernel counts ids from 0 up, so "0 = not chosen yet"
// cannot be told by the id alone).
type fanoutGroup struct {
	id    uint16
	known bool
}

// open makes one socket, ready and in the fanout group, with the drop-all filter.
func (r *ring) open(cfg Config, group *fanoutGroup) error {
	c := r.c
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("live: capturing on %s needs root or the CAP_NET_RAW capability: %w", c.iface, err)
		}
		return fmt.Errorf("live: packet socket for %s: %w", c.iface, err)
	}
	r.fd = fd
	fail := func(what string, err error) error {
		return fmt.Errorf("live: %s: %s: %w", c.iface, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("TPACKET_V3 rings are not available (Linux 3.2 or later)", err)
	}
	if err := setFilter(fd, dropAll); err != nil {
		return fail("attaching the filter", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(r.bsize),
		Block_nr:       uint32(r.nblock),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.bsize / frameSize * r.nblock),
		Retire_blk_tov: uint32(blockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail(fmt.Sprintf("ring of %d blocks of %d bytes", r.nblock, r.bsize), err)
	}
	mem, err := unix.Mmap(fd, 0, r.bsize*r.nblock, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(fmt.Sprintf("mapping the ring of %d bytes", r.bsize*r.nblock), err)
	}
	r.mem = mem
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: c.ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("binding", err)
	}
	if name, err := unix.Getsockname(fd); err == nil {
		if ll, ok := name.(*unix.SockaddrLinklayer); ok && ll.Hatype != unix.ARPHRD_ETHER && ll.Hatype != unix.ARPHRD_LOOPBACK {
			return fmt.Errorf("live: %s: not an Ethernet interface (ARP hardware type %d)", c.iface, ll.Hatype)
		}
	}
	if cfg.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(c.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	arg := int(fanoutFlags)<<16 | int(group.id)
	if !group.known {
		arg = int(fanoutFlags|unix.PACKET_FANOUT_FLAG_UNIQUEID) << 16
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
		if cfg.FanoutGroup != 0 && errors.Is(err, unix.EINVAL) {
			return fail(fmt.Sprintf("fanout group %d is in use with other settings", group.id), err)
		}
		return fail("joining the fanout group", err)
	}
	if !group.known { // the kernel chose: the others join that group
		v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return fail("reading the fanout group", err)
		}
		group.id, group.known = uint16(v), true
	}
	return nil
}

// attach gives every socket prog (everything when empty). The kernel swaps a socket's filter
// atomically.
func (c *afCapture) attach(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		prog = acceptAll
	} else if err := checkProgram(prog); err != nil {
		return fmt.Errorf("live: filter: %w", err)
	}
	for _, r := range c.srcs {
		if err := setFilter(r.fd, prog); err != nil {
			return fmt.Errorf("live: %s: the kernel refused the filter: %w", c.iface, err)
		}
	}
	return nil
}

func (c *afCapture) setFilter(prog []bpf.RawInstruction, expr string) error {
	if expr != "" {
		var err error
		if prog, err = CompileFilter(c.iface, expr); err != nil {
			return err
		}
	}
	// Refuse before touching any socket, so a bad program leaves every socket as it was.
	if len(prog) > 0 {
		if err := checkProgram(prog); err != nil {
			return fmt.Errorf("live: filter: %w", err)
		}
	}
	c.fdMu.Lock()
	defer c.fdMu.Unlock()
	if c.stopped.Load() {
		return nil // the drop-all filter of Stop stays
	}
	return c.attach(prog)
}

func setFilter(fd int, prog []bpf.RawInstruction) error {
	p := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &p)
}

func (c *afCapture) sources() []Source {
	out := make([]Source, len(c.srcs))
	for i, r := range c.srcs {
		out[i] = r
	}
	return out
}

// stop closes the door (the drop-all filter: no packet enters a ring any more, and none is
// counted), then wakes the readers, which drain their rings.
func (c *afCapture) stop() {
	c.fdMu.Lock()
	c.stopAt.Store(time.Now().UnixNano())
	for _, r := range c.srcs {
		_ = setFilter(r.fd, dropAll) // cannot fail on an open socket with a valid program
	}
	c.stopped.Store(true)
	c.fdMu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(c.stopFd, one[:])
}

func (c *afCapture) close() error {
	c.stats() // the last kernel counters, before the sockets go
	c.release()
	return nil
}

// release closes every socket and ring, waiting for a reader inside Next first.
func (c *afCapture) release() {
	for _, r := range c.srcs {
		r.mu.Lock()
		c.fdMu.Lock()
		if r.mem != nil {
			_ = unix.Munmap(r.mem)
			r.mem = nil
		}
		if r.fd >= 0 {
			_ = unix.Close(r.fd)
			r.fd = -1
		}
		r.done = true
		c.fdMu.Unlock()
		r.mu.Unlock()
	}
	if c.stopFd >= 0 {
		_ = unix.Close(c.stopFd)
		c.stopFd = -1
	}
}

// stats reads and resets each socket's kernel counters and adds them to the 64-bit sums.
func (c *afCapture) stats() []Stats {
	c.fdMu.Lock()
	defer c.fdMu.Unlock()
	out := make([]Stats, len(c.srcs))
	for i, r := range c.srcs {
		if fd := r.fd; fd >= 0 { // not r.mu: that would wait behind a reader's poll
			if st, err := unix.GetsockoptTpacketStatsV3(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				r.kern.Packets += uint64(st.Packets)
				r.kern.Drops += uint64(st.Drops)
				r.kern.QueueFreezes += uint64(st.Freeze_q_cnt)
			}
		}
		out[i] = r.kern
		out[i].Delivered = r.delivered.Load()
		out[i].Bytes = r.bytes.Load()
		out[i].LinkDowns = r.linkDowns.Load()
	}
	return out
}

// Next implements Source.
func (r *ring) Next(p *capture.Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return ErrStopped
	}
	if r.left == 0 {
		if err := r.nextBlock(); err != nil {
			return err
		}
	}
	const hdrLen = int(unsafe.Sizeof(unix.Tpacket3Hdr{}))
	if r.off < 0 || r.off+hdrLen > r.end {
		return r.corrupt()
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[r.off]))
	start := r.off + int(h.Mac)
	stop := start + int(h.Snaplen)
	if stop > r.end || start < r.off+hdrLen {
		return r.corrupt()
	}
	r.frame++
	p.Data = r.mem[start:stop:stop]
	p.Timestamp = time.Unix(int64(h.Sec), int64(h.Nsec))
	p.Length = int(h.Len)
	p.LinkType = layers.LinkTypeEthernet
	p.Frame = r.frame
	p.File = r.c.iface
	if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
		p.VLAN, p.HasVLAN = uint16(h.Hv1.Vlan_tci&0x0fff), true
		p.Length += 4 // tp_len counts the frame without the tag it had on the wire
	} else {
		p.VLAN, p.HasVLAN = 0, false
	}
	r.left--
	if r.left > 0 {
		r.off += int(h.Next_offset)
	}
	r.delivered.Add(1)
	r.bytes.Add(uint64(len(p.Data)))
	return nil
}

// corrupt gives up on a block whose packet headers point outside it (never seen: the kernel
// writes them), rather than reading out of bounds.
func (r *ring) corrupt() error {
	r.left = 0
	return fmt.Errorf("live: %s: ring block %d holds a packet header out of bounds; block skipped", r.c.iface, r.cur)
}

// nextBlock gives back the block the reader holds and waits for the next one, up to the poll
// timeout (or, once stopped, until the kernel retired its last partly filled block).
func (r *ring) nextBlock() error {
	if r.held {
		r.release()
	}
	var deadline time.Time
	for {
		bh := r.blockHeader(r.cur)
		if atomic.LoadUint32(&bh.Block_status)&unix.TP_STATUS_USER != 0 {
			r.held = true
			r.left = atomic.LoadUint32(&bh.Num_pkts)
			base := r.cur * r.bsize
			r.off = base + int(bh.Offset_to_first_pkt)
			r.end = base + r.bsize
			if r.left == 0 {
				r.release()
				continue
			}
			return nil
		}
		stopped := r.c.stopped.Load()
		now := time.Now()
		if stopped {
			// No packet enters the ring since Stop; the one partly filled block is handed
			// over within two retire timeouts.
			deadline = time.Unix(0, r.c.stopAt.Load()).Add(3*blockTimeout + time.Millisecond)
		} else if deadline.IsZero() {
			deadline = now.Add(r.poll)
		}
		wait := deadline.Sub(now)
		if wait <= 0 {
			if stopped {
				r.done = true
				return ErrStopped
			}
			if r.gone {
				return fmt.Errorf("live: %s: %w", r.c.iface, ErrInterfaceGone)
			}
			return ErrTimeout
		}
		fds := [2]unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.c.stopFd), Events: unix.POLLIN}}
		n := 2
		if stopped {
			n = 1 // the eventfd stays readable: only the ring now
		}
		ms := int((wait + time.Millisecond - 1) / time.Millisecond)
		if _, err := unix.Poll(fds[:n], ms); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("live: %s: poll: %w", r.c.iface, err)
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			// A socket error, for example ENETDOWN when the link goes down; reading SO_ERROR
			// clears it. The socket keeps its place and resumes when the link is back, unless
			// the interface was removed: the kernel then unbinds the socket (index -1).
			if e, err := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
				if sa, err := unix.Getsockname(r.fd); err == nil {
					if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Ifindex != r.c.ifindex {
						r.gone = true
						return fmt.Errorf("live: %s: %w", r.c.iface, ErrInterfaceGone)
					}
				}
				if unix.Errno(e) == unix.ENETDOWN {
					r.linkDowns.Add(1) // a link flap: counted, and waited through
					continue
				}
				return fmt.Errorf("live: %s: %w", r.c.iface, unix.Errno(e))
			}
		}
	}
}

// release gives block cur back to the kernel and moves to the next.
func (r *ring) release() {
	atomic.StoreUint32(&r.blockHeader(r.cur).Block_status, unix.TP_STATUS_KERNEL)
	r.held = false
	r.left = 0
	r.cur++
	if r.cur == r.nblock {
		r.cur = 0
	}
}

func (r *ring) blockHeader(i int) *unix.TpacketHdrV1 {
	d := (*unix.TpacketBlockDesc)(unsafe.Pointer(&r.mem[i*r.bsize]))
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&d.Hdr[0]))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// unwrapNet turns net.InterfaceByName's "route ip+net: no such network interface" into its
// cause.
func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
