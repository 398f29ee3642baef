package main

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/live"
	"github.com/pcapaudit/pcapaudit/cmd/internal/metrics"
)

// bpfProgram is the sensor's filter: a classic BPF program (compiled by tcpdump, or read from
// --filter-file), or, for the libpcap backend, the expression libpcap compiles on the open
// handle.
type bpfProgram struct {
	raw  []bpf.RawInstruction
	expr string // libpcap only
}

// compileFilter compiles --filter or reads --filter-file (nil: no filter). It runs before
// capture starts, and again on SIGHUP.
func (o *sensorOptions) compileFilter() (*bpfProgram, error) {
	switch {
	case o.filterFile != "":
		raw, err := live.ReadFilterFile(o.filterFile)
		if err != nil {
			return nil, err
		}
		return &bpfProgram{raw: raw}, nil
	case o.filter == "":
		return nil, nil
	case o.file != "":
		return nil, errors.New("--filter compiles for an interface: with --file, give a program compiled with 'tcpdump -ddd' in --filter-file")
	case o.backend == live.BackendPcap:
		return &bpfProgram{expr: o.filter}, nil // compiled by libpcap on the live handle
	}
	raw, err := live.CompileFilter(o.iface, o.filter)
	if err != nil {
		return nil, err
	}
	return &bpfProgram{raw: raw}, nil
}

// open opens the capture: the interface's rings, or --file through the live path.
func (o *sensorOptions) open(filter *bpfProgram) (liveCapture, error) {
	if o.file != "" {
		return o.openFile(filter)
	}
	cfg := live.Config{
		Interface: o.iface, Workers: o.workers, FanoutGroup: uint16(o.fanoutGroup),
		BlockSize: o.blockSize, NumBlocks: o.blocks, Promiscuous: true,
		PollTimeout: o.poll, Backend: o.backend,
	}
	if o.backend == live.BackendPcap {
		cfg.Workers = 1 // one libpcap handle
	}
	if filter != nil {
		cfg.Filter, cfg.FilterExpr = filter.raw, filter.expr
	}
	c, err := live.Open(cfg)
	if err != nil {
		return liveCapture{}, err
	}
	var srcs []capture.Source
	for _, s := range c.Sources() {
		srcs = append(srcs, liveSource{s})
	}
	return liveCapture{
		sources: srcs,
		stop:    c.Stop,
		close:   c.Close,
		rings: func() []metrics.Ring {
			var out []metrics.Ring
			for _, s := range c.Stats() {
				out = append(out, metrics.Ring{Packets: s.Packets, Drops: s.Drops + s.IfDrops, Freezes: s.QueueFreezes, LinkDowns: s.LinkDowns})
			}
			return out
		},
		// A ring's errors (a socket error, the interface gone) leave it readable: the reader
		// waits for the interface to come back, and /healthz says it is not capturing.
		transient: func(error) bool { return true },
		setFilter: func(f *bpfProgram) error {
			if f == nil {
				return c.SetFilter(nil, "")
			}
			return c.SetFilter(f.raw, f.expr)
		},
	}, nil
}

// liveSource is a ring as a capture.Source (Close is the Capture's).
type liveSource struct{ live.Source }

func (liveSource) Close() error { return nil }

// filtered runs a BPF program in user space over a file's packets (--file with
// --filter-file), as the kernel would over an interface's.
type filtered struct {
	capture.Source
	vm *bpf.VM
}

// source filters src with the program.
func (f *bpfProgram) source(src capture.Source) (capture.Source, error) {
	insns, ok := bpf.Disassemble(f.raw)
	if !ok {
		return nil, errors.New("--filter-file: the program has an instruction the user-space filter cannot run")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("--filter-file: %w", err)
	}
	return &filtered{Source: src, vm: vm}, nil
}

func (f *filtered) Next(p *capture.Packet) error {
	for {
		if err := f.Source.Next(p); err != nil {
			return err
		}
		if n, err := f.vm.Run(p.Data); err == nil && n > 0 {
			return nil
		}
	}
}
