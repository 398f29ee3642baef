// Package metrics exports a live sensor's counters to Prometheus. The counters stay where they
// are counted — the capture rings, the decoders, the engine's workers, the policy's findings,
// the output — and are read when Prometheus scrapes (a Collector of const metrics), so the
// per-packet path pays nothing for them. Findings and ended flows are counted by a sink of the
// audit. Every name starts with pcapaudit_ and follows Prometheus' naming rules.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Ring is what the kernel says of one capture ring: packets it passed, packets it dropped
// (the ring was full), and times the ring froze. 64-bit, accumulated since the start.
type Ring struct {
	Packets, Drops, Freezes uint64
	// LinkDowns counts the times the interface went down under the ring (capture resumes when
	// it comes back).
	LinkDowns uint64
}

// Sources are the functions the metrics read at each scrape. Each must be safe to call from
// any goroutine; a nil one is left out.
type Sources struct {
	Interface string
	// Engine: the engine's counters, all workers (classify.Parallel.LiveStats).
	Engine func() classify.Stats
	// Feeders: per worker, the packets and bytes read (classify.Parallel.FeederStats).
	Feeders func() []classify.Stats
	// Workers: per flow worker, its counters and the flows in its table
	// (classify.Parallel.WorkerStats).
	Workers func() ([]classify.Stats, []int)
	// Rings: per worker, the kernel's ring statistics.
	Rings func() []Ring
	// Output: documents written and dropped.
	Output func() (written, dropped uint64)
	// Suppressed: findings held back as repeats, keys the suppression state forgot.
	Suppressed func() (held, forgotten uint64)
}

// Metrics is a sensor's registry.
type Metrics struct {
	reg  *prometheus.Registry
	src  Sources
	sink *Sink

	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
}

// New registers the sensor's metrics (and Go's and the process's own).
func New(src Sources, version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), src: src, sink: &Sink{}}
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pcapaudit_reloads_total", Help: "Reloads of the policy and filter (SIGHUP), by result.",
	}, []string{"result"})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pcapaudit_last_reload_success_timestamp_seconds", Help: "When the policy was last loaded successfully (Unix time).",
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pcapaudit_build_info", Help: "Always 1; the labels say which pcapaudit runs.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.reloads, m.lastReload, build, (*collector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry, for tests (testutil.CollectAndLint).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Sink counts the flows that ended and the findings raised; add it to the audit's sinks.
func (m *Metrics) Sink() *Sink { return m.sink }

// Reloaded records a reload (SIGHUP) and, when it succeeded, its time.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.lastReload.Set(float64(at.UnixNano()) / 1e9)
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
}

// Sink is an audit sink that counts ended flows by protocol (interim records apart) and
// findings by rule and severity.
type Sink struct {
	mu       sync.Mutex
	ended    [flow.NumLabels]uint64
	interim  uint64
	findings map[ruleSev]uint64
}

type ruleSev struct{ rule, sev string }

// Flow implements the audit's Sink.
func (s *Sink) Flow(r *flow.Record, findings []*rules.Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Interim {
		s.interim++
	} else if r.Label < flow.NumLabels {
		s.ended[r.Label]++
	}
	if len(findings) > 0 && s.findings == nil {
		s.findings = map[ruleSev]uint64{}
	}
	for _, f := range findings {
		s.findings[ruleSev{f.Rule.ID, f.Rule.Severity.String()}]++
	}
}

// Close implements the audit's Sink.
func (s *Sink) Close(*report.Summary) error { return nil }

// collector reads the counters at each scrape.
type collector Metrics

var (
	descPackets     = prometheus.NewDesc("pcapaudit_packets_total", "Packets read from the capture, per worker.", []string{"interface", "worker"}, nil)
	descBytes       = prometheus.NewDesc("pcapaudit_bytes_total", "Bytes of the packets read from the capture, per worker.", []string{"interface", "worker"}, nil)
	descKernPackets = prometheus.NewDesc("pcapaudit_kernel_packets_total", "Packets the kernel passed to the capture ring, per worker.", []string{"interface", "worker"}, nil)
	descKernDrops   = prometheus.NewDesc("pcapaudit_kernel_drops_total", "Packets the kernel dropped because the capture ring was full, per worker.", []string{"interface", "worker"}, nil)
	descKernFreezes = prometheus.NewDesc("pcapaudit_kernel_queue_freezes_total", "Times the kernel froze the capture ring's queue, per worker.", []string{"interface", "worker"}, nil)
	descLinkDowns   = prometheus.NewDesc("pcapaudit_interface_link_downs_total", "Times the interface went down under a worker's ring.", []string{"interface", "worker"}, nil)
	descDecode      = prometheus.NewDesc("pcapaudit_decode_packets_total", "Packets by what the decoder made of them.", []string{"status"}, nil)
	descFlowsActive = prometheus.NewDesc("pcapaudit_flows_active", "Flows in the flow tables now, per flow worker.", []string{"worker"}, nil)
	descFlowsMade   = prometheus.NewDesc("pcapaudit_flows_created_total", "Flows created, per flow worker.", []string{"worker"}, nil)
	descFlowsEnded  = prometheus.NewDesc("pcapaudit_flows_ended_total", "Flows that ended and were reported, by protocol.", []string{"protocol"}, nil)
	descInterim     = prometheus.NewDesc("pcapaudit_flows_interim_records_total", "Interim records of long-lived flows.", nil, nil)
	descFindings    = prometheus.NewDesc("pcapaudit_findings_total", "Findings reported, by rule and severity.", []string{"rule", "severity"}, nil)
	descSuppressed  = prometheus.NewDesc("pcapaudit_findings_suppressed_total", "Findings held back as repeats within the suppression window.", nil, nil)
	descEvictions   = prometheus.NewDesc("pcapaudit_evictions_total", "Entries evicted from a full bounded table, by table.", []string{"table"}, nil)
	descTCPGaps     = prometheus.NewDesc("pcapaudit_tcp_gaps_total", "Holes in TCP streams that reassembly skipped.", nil, nil)
	descTCPAcked    = prometheus.NewDesc("pcapaudit_tcp_acked_gaps_total", "Holes in TCP streams that the receiver acknowledged: bytes lost before the capture (a capture-loss estimate).", nil, nil)
	descTCPGapBytes = prometheus.NewDesc("pcapaudit_tcp_gap_bytes_total", "Bytes missing in TCP streams.", nil, nil)
	descCut         = prometheus.NewDesc("pcapaudit_flows_cut_total", "Flows whose inspection stopped at the inspection window.", nil, nil)
	descPanics      = prometheus.NewDesc("pcapaudit_detector_panics_total", "Detector panics recovered (a bug: please report).", nil, nil)
	descWritten     = prometheus.NewDesc("pcapaudit_output_records_written_total", "Documents written to the output.", nil, nil)
	descDropped     = prometheus.NewDesc("pcapaudit_output_records_dropped_total", "Documents dropped because the output was slow or failing.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descBytes, descKernPackets, descKernDrops, descKernFreezes, descLinkDowns, descDecode,
		descFlowsActive, descFlowsMade, descFlowsEnded, descInterim, descFindings, descSuppressed, descEvictions,
		descTCPGaps, descTCPAcked, descTCPGapBytes, descCut, descPanics, descWritten, descDropped} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	src := &c.src
	iface := src.Interface
	if src.Feeders != nil {
		for i, s := range src.Feeders() {
			w := strconv.Itoa(i)
			counter(descPackets, s.Packets, iface, w)
			counter(descBytes, s.Bytes, iface, w)
		}
	}
	if src.Rings != nil {
		for i, r := range src.Rings() {
			w := strconv.Itoa(i)
			counter(descKernPackets, r.Packets, iface, w)
			counter(descKernDrops, r.Drops, iface, w)
			counter(descKernFreezes, r.Freezes, iface, w)
			counter(descLinkDowns, r.LinkDowns, iface, w)
		}
	}
	if src.Engine != nil {
		st := src.Engine()
		d := &st.Decode
		for _, kv := range []struct {
			s string
			n uint64
		}{{"ok", d.OK}, {"not-ip", d.NotIP}, {"not-tcp-udp", d.NotTCPUDP}, {"fragment", d.Fragment},
			{"truncated", d.Truncated}, {"malformed", d.Malformed}, {"unsupported-link", d.UnsupportedLink}} {
			counter(descDecode, kv.n, kv.s)
		}
		counter(descEvictions, st.Evicted-st.HalfOpenEvicted, "flows")
		counter(descEvictions, st.HalfOpenEvicted, "half_open")
		counter(descEvictions, d.FragEvicted, "fragments")
		counter(descTCPGaps, st.TCPGaps)
		counter(descTCPAcked, st.TCPAckedGaps)
		counter(descTCPGapBytes, st.TCPGapBytes)
		counter(descCut, st.Cut)
		counter(descPanics, st.Panics)
	}
	if src.Workers != nil {
		stats, flows := src.Workers()
		for i := range stats {
			w := strconv.Itoa(i)
			ch <- prometheus.MustNewConstMetric(descFlowsActive, prometheus.GaugeValue, float64(flows[i]), w)
			counter(descFlowsMade, stats[i].Flows, w)
		}
	}
	if src.Suppressed != nil {
		held, forgotten := src.Suppressed()
		counter(descSuppressed, held)
		counter(descEvictions, forgotten, "suppression")
	}
	if src.Output != nil {
		w, d := src.Output()
		counter(descWritten, w)
		counter(descDropped, d)
	}
	s := c.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := flow.Label(0); l < flow.NumLabels; l++ {
		counter(descFlowsEnded, s.ended[l], l.String())
	}
	counter(descInterim, s.interim)
	for k, n := range s.findings {
		counter(descFindings, n, k.rule, k.sev)
	}
}
