package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
	"github.com/pcapaudit/pcapaudit/cmd/internal/debugserver"
	"github.com/pcapaudit/pcapaudit/cmd/internal/metrics"
	"github.com/pcapaudit/pcapaudit/cmd/internal/output"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
)

const sensorLong = `Run as a sensor on a network interface that receives a copy of the traffic (a SPAN or
mirror port, a TAP): capture, follow and classify every flow, and stream flows and findings
as NDJSON (Elastic Common Schema) to standard output or a rotating file, for months.

Capture is AF_PACKET with one ring per worker joined in a PACKET_FANOUT group (Linux, no
C library); --backend pcap uses libpcap in a build made with -tags libpcap. --file reads a
capture through the same live path instead (with --replay, at its recorded pace).

Signals: SIGHUP reopens the output file (for logrotate) and reloads the policy and the
filter (a broken one is logged and the old one kept). SIGTERM or SIGINT stops capture,
ends every open flow, writes its findings and a summary, and exits 0.

Metrics (Prometheus), /healthz, Go's profiler (/debug/pprof/) and the progress
(/debug/vars) are served on --metrics-addr (127.0.0.1 unless an address is given).

Exit codes:
  0  stopped by a signal, or the --file was read to its end
  2  usage error, bad configuration, policy or filter, an interface that does not exist or
     cannot be captured on, an address in use, an output that cannot be written`

// sensorOptions are the sensor's flags (and the keys of its --config file).
type sensorOptions struct {
	engineFlags
	config      string
	iface       string
	file        string
	replay      bool
	speed       float64
	backend     string
	fanoutGroup int
	blockSize   int
	blocks      int
	filter      string
	filterFile  string
	interim     time.Duration
	suppress    time.Duration
	output      string
	outMaxSize  int
	outRotate   time.Duration
	outKeep     int
	outBuffer   int
	metricsAddr string
	lossWarn    float64
	hostname    string
	poll        time.Duration
}

func newSensorCmd(stdout, stderr io.Writer) *cobra.Command {
	var o sensorOptions
	cmd := &cobra.Command{
		Use:   "sensor --interface IF [flags]",
		Short: "Capture live on an interface (a SPAN port) and stream flows and findings",
		Long:  sensorLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.config != "" {
				if err := applyConfig(cmd.Flags(), o.config); err != nil {
					return &exitErr{code: exitError, err: err}
				}
			}
			return runSensor(cmd.Context(), &o, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	o.engineFlags.add(fl, "capture workers: one ring each, in one fanout group")
	fl.StringVarP(&o.config, "config", "c", "", "YAML file with the same settings as the flags (its keys are the flag names; flags given on the command line win)")
	fl.StringVarP(&o.iface, "interface", "i", "", "network interface to capture on")
	fl.StringVar(&o.file, "file", "", "read this capture through the live path instead of an interface")
	fl.BoolVar(&o.replay, "replay", false, "with --file: at the pace it was recorded, timestamps moved to now")
	fl.Float64Var(&o.speed, "replay-speed", 1, "with --replay: this many times the recorded pace")
	fl.StringVar(&o.backend, "backend", "afpacket", "capture backend: afpacket (Linux), or pcap (libpcap; builds made with -tags libpcap)")
	fl.IntVar(&o.fanoutGroup, "fanout-group", 0, "PACKET_FANOUT group id, 1 to 65535 (0: derived from the process id, so two sensors never share one)")
	fl.IntVar(&o.blockSize, "ring-block-size", 1<<20, "bytes per block of each TPACKET_V3 ring (a multiple of the page size)")
	fl.IntVar(&o.blocks, "ring-blocks", 64, "blocks per ring")
	fl.StringVar(&o.filter, "filter", "", "tcpdump/BPF filter expression, applied in the kernel before the first packet (compiled with 'tcpdump -ddd')")
	fl.StringVar(&o.filterFile, "filter-file", "", "BPF program already compiled with 'tcpdump -ddd EXPR' (instead of --filter)")
	fl.DurationVar(&o.interim, "interim", 5*time.Minute, "a flow open this long is reported so far (an interim record), and again at each interval (0: never)")
	fl.DurationVar(&o.suppress, "suppress", 10*time.Minute, "the same finding for the same client, server and rule is reported once per this window, with the count held back (0: every one)")
	fl.StringVarP(&o.output, "output", "o", "-", "NDJSON output file (- for standard output)")
	fl.IntVar(&o.outMaxSize, "output-max-size", 100, "rotate the output file at this size, in megabytes")
	fl.DurationVar(&o.outRotate, "output-rotate-every", 24*time.Hour, "rotate the output file at this interval whatever its size (0: by size only)")
	fl.IntVar(&o.outKeep, "output-keep", 7, "rotated output files kept (the oldest are deleted; 0 keeps all)")
	fl.IntVar(&o.outBuffer, "output-buffer", 16<<20, "bytes of output held while the destination is slow; documents past it are dropped and counted")
	fl.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9187", "serve /metrics, /healthz and /debug/ on this address (a bare :PORT binds 127.0.0.1; empty: off)")
	fl.Float64Var(&o.lossWarn, "loss-warn", 0.01, "log a warning when more than this share of packets was lost over a minute (kernel drops)")
	fl.StringVar(&o.hostname, "hostname", "", "observer.hostname in every document (default: this host's name)")
	fl.DurationVar(&o.poll, "poll", 200*time.Millisecond, "how long a worker waits for a packet before it looks at the clock and at a stop")
	return cmd
}

// sensor is a running sensor: what the signal handlers and the metrics need to reach.
type sensor struct {
	o    *sensorOptions
	log  zerolog.Logger
	a    *audit.Audit
	out  *output.Writer
	m    *metrics.Metrics
	live liveCapture
}

// liveCapture is an open capture: an interface's rings, or a file read through the live path.
type liveCapture struct {
	sources []capture.Source
	stop    func()
	close   func() error
	// rings reads the kernel's statistics of each ring (nil: none, for a file).
	rings func() []metrics.Ring
	// setFilter replaces the filter on every ring (nil: filters cannot be changed).
	setFilter func(f *bpfProgram) error
	// transient says which errors of a source leave it readable (nil: none; a file's end it).
	transient func(error) bool
}

func runSensor(ctx context.Context, o *sensorOptions, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logLevel, "sensor")
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	pol, err := o.loadPolicy()
	if err != nil {
		return &exitErr{code: exitError, err: err}
	}
	filter, err := o.compileFilter()
	if err != nil {
		return &exitErr{code: exitError, err: err}
	}
	host := o.hostname
	if host == "" {
		host, _ = os.Hostname()
	}

	// Everything that can fail on a bad setting fails here, before capture starts.
	out, err := output.Open(output.Options{Path: o.output, Stdout: stdout, MaxSizeMB: o.outMaxSize,
		RotateEvery: o.outRotate, Keep: o.outKeep, Buffer: o.outBuffer})
	if err != nil {
		return usageErr("--output %q: %v", o.output, err)
	}
	var ln net.Listener
	if o.metricsAddr != "" {
		if ln, err = net.Listen("tcp", metricsAddr(o.metricsAddr)); err != nil {
			out.Close()
			return usageErr("--metrics-addr %q: %v", o.metricsAddr, err)
		}
	}
	lc, err := o.open(filter)
	if err != nil {
		out.Close()
		if ln != nil {
			ln.Close()
		}
		return &exitErr{code: exitError, err: err}
	}

	s := &sensor{o: o, log: log, out: out, live: lc}
	name := o.iface
	if o.file != "" {
		name = o.file
	}
	js := report.NewJSON(out, false, pol.Name)
	js.SetObserver(report.Observer{Hostname: host, Interface: name, Version: shortVersion()})
	prog := audit.NewProgress(1)
	var a *audit.Audit
	s.m = metrics.New(metrics.Sources{
		Interface: name,
		Engine: func() classify.Stats {
			s, _ := a.Engine().LiveStats()
			return s
		},
		Feeders: func() []classify.Stats { return a.Engine().FeederStats() },
		Workers: func() ([]classify.Stats, []int) { return a.Engine().WorkerStats() },
		Rings:   lc.rings,
		Output:  func() (uint64, uint64) { return out.Written(), out.Dropped() },
		Suppressed: func() (uint64, uint64) {
			return a.Suppressed()
		},
	}, shortVersion())
	a = audit.New(audit.Options{
		Policy: pol, Workers: o.workers, MaxFlows: o.maxFlows, InspectWindow: o.window,
		Sinks: []audit.Sink{js, s.m.Sink()}, Log: log, Progress: prog,
		Suppress: o.suppress, FlushEvery: time.Second,
		Engine: func(c *classify.Config) { o.engine(c); c.Interim, c.PresizeTable = o.interim, true },
	})
	s.a = a
	s.m.Reloaded(true, time.Now())

	if ln != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.m.Handler())
		mux.HandleFunc("/healthz", s.healthz)
		debugserver.Mount(mux, prog.Snapshot)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // ErrServerClosed at the end
		defer srv.Close()
		log.Info().Str("addr", ln.Addr().String()).Msgf("metrics on http://%s/metrics", ln.Addr())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); s.onHUP(hup, done) }()
	go func() { defer bg.Done(); s.watchLoss(done) }()

	log.Info().Str("interface", name).Int("workers", len(lc.sources)).Msg("capturing")
	fs := a.Live(ctx, name, lc.sources, lc.stop, lc.transient)
	close(done)
	bg.Wait()
	if err := lc.close(); err != nil {
		log.Warn().Err(err).Msg("closing the capture")
	}
	sum, err := a.Close()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	log.Info().Uint64("packets", fs.Packets).Uint64("flows", sum.Stats.Flows).
		Uint64("written", out.Written()).Uint64("dropped", out.Dropped()).Msg("stopped")
	if fs.Err != "" {
		return &exitErr{code: exitError, err: fmt.Errorf("%s: %s", name, fs.Err)}
	}
	if err != nil {
		return &exitErr{code: exitError, err: fmt.Errorf("writing the output: %w", err)}
	}
	return nil
}

// check validates the sensor's own flags (and the shared ones).
func (o *sensorOptions) check() error {
	if err := o.engineFlags.check(); err != nil {
		return err
	}
	switch {
	case o.iface == "" && o.file == "":
		return usageErr("no --interface (or --file) given")
	case o.iface != "" && o.file != "":
		return usageErr("--interface and --file: give one")
	case o.replay && o.file == "":
		return usageErr("--replay goes with --file")
	case o.filter != "" && o.filterFile != "":
		return usageErr("--filter and --filter-file: give one")
	case o.fanoutGroup < 0 || o.fanoutGroup > 65535:
		return usageErr("--fanout-group %d: want 0 to 65535", o.fanoutGroup)
	case o.speed <= 0:
		return usageErr("--replay-speed %v: want a positive number", o.speed)
	case o.interim < 0 || (o.interim > 0 && o.interim < time.Second):
		return usageErr("--interim %v: want 0 (off) or at least 1s", o.interim)
	case o.suppress < 0:
		return usageErr("--suppress %v: want 0 (off) or a duration", o.suppress)
	case o.outMaxSize < 1:
		return usageErr("--output-max-size %d: want at least 1 (megabyte)", o.outMaxSize)
	case o.outKeep < 0:
		return usageErr("--output-keep %d: want 0 or more", o.outKeep)
	case o.outBuffer < 64<<10:
		return usageErr("--output-buffer %d: want at least 65536 bytes", o.outBuffer)
	case o.lossWarn <= 0 || o.lossWarn > 1:
		return usageErr("--loss-warn %v: want a share between 0 and 1", o.lossWarn)
	case o.poll < 10*time.Millisecond || o.poll > 10*time.Second:
		return usageErr("--poll %v: want 10ms to 10s", o.poll)
	case o.backend != "afpacket" && o.backend != "pcap":
		return usageErr("--backend %q: want afpacket or pcap", o.backend)
	}
	return nil
}

// metricsAddr binds a bare :PORT to loopback: metrics and profiles are not for everyone on
// the network unless the operator says so.
func metricsAddr(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// openFile reads --file through the live path (at its pace with --replay).
func (o *sensorOptions) openFile(filter *bpfProgram) (liveCapture, error) {
	src, err := capture.Open(o.file)
	if err != nil {
		return liveCapture{}, err
	}
	if filter != nil {
		if src, err = filter.source(src); err != nil {
			return liveCapture{}, err
		}
	}
	stop := func() {}
	if o.replay {
		r := capture.NewReplay(src, o.speed, o.poll)
		src, stop = r, r.Stop
	} else {
		st := &stoppable{Source: src}
		src, stop = st, st.stop
	}
	return liveCapture{sources: []capture.Source{src}, stop: stop, close: src.Close}, nil
}

// stoppable ends a source early when told to (a file read as fast as it goes).
type stoppable struct {
	capture.Source
	stopped atomic.Bool
}

func (s *stoppable) stop() { s.stopped.Store(true) }

func (s *stoppable) Next(p *capture.Packet) error {
	if s.stopped.Load() {
		return capture.ErrStopped
	}
	return s.Source.Next(p)
}

// healthz answers 200 while every worker is capturing, 503 otherwise.
func (s *sensor) healthz(w http.ResponseWriter, _ *http.Request) {
	want := len(s.live.sources)
	if n := s.a.Readers(); n < want {
		http.Error(w, fmt.Sprintf("%d of %d workers capturing\n", n, want), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok: %d workers capturing\n", want)
}

// onHUP reopens the output and reloads the policy and the filter on each SIGHUP. What does
// not load is logged and the old one kept.
func (s *sensor) onHUP(hup <-chan os.Signal, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-hup:
		}
		if err := s.out.Reopen(); err != nil {
			s.log.Error().Err(err).Msg("SIGHUP: reopening the output")
		}
		ok := true
		if pol, err := s.o.loadPolicy(); err != nil {
			ok = false
			s.log.Error().Msgf("SIGHUP: the policy did not load, the old one stays: %v", err)
		} else {
			s.a.SetPolicy(pol)
		}
		if s.o.filter != "" || s.o.filterFile != "" {
			f, err := s.o.compileFilter()
			switch {
			case err != nil:
				ok = false
				s.log.Error().Msgf("SIGHUP: the filter did not compile, the old one stays: %v", err)
			case s.live.setFilter == nil:
				s.log.Warn().Msg("SIGHUP: this source cannot change its filter")
			default:
				if err := s.live.setFilter(f); err != nil {
					ok = false
					s.log.Error().Msgf("SIGHUP: the filter could not be set, the old one stays: %v", err)
				}
			}
		}
		s.m.Reloaded(ok, time.Now())
		if ok {
			s.log.Info().Msg("SIGHUP: output reopened, policy and filter reloaded")
		}
	}
}

// lossEvery is the interval over which the kernel's drops are compared with the packets.
var lossEvery = time.Minute

// watchLoss logs a warning when the kernel dropped more than --loss-warn of the packets over
// the last interval.
func (s *sensor) watchLoss(done <-chan struct{}) {
	if s.live.rings == nil {
		return
	}
	t := time.NewTicker(lossEvery)
	defer t.Stop()
	var lastP, lastD uint64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		var p, d uint64
		for _, r := range s.live.rings() {
			p += r.Packets
			d += r.Drops
		}
		dp, dd := p-lastP, d-lastD
		lastP, lastD = p, d
		if dp+dd == 0 {
			continue
		}
		if ratio := float64(dd) / float64(dp+dd); ratio > s.o.lossWarn {
			s.log.Warn().Float64("loss_ratio", ratio).Uint64("dropped", dd).Uint64("received", dp).
				Msgf("the kernel dropped %.1f%% of the packets over the last %v: the sensor does not keep up (more workers, a larger ring, a filter)", 100*ratio, lossEvery)
		}
	}
}

// applyConfig sets, from a YAML file of flag names and values, every flag not given on the
// command line. An unknown key or a bad value names the file and line.
func applyConfig(fl *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of flag names to values", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		f := fl.Lookup(k.Value)
		if f == nil || k.Value == "config" {
			return fmt.Errorf("%s:%d: %q is not a setting of the sensor", path, k.Line, k.Value)
		}
		if f.Changed {
			continue // the command line wins
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: %s: want a single value", path, v.Line, k.Value)
		}
		if err := fl.Set(k.Value, v.Value); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", path, v.Line, k.Value, err)
		}
	}
	return nil
}
