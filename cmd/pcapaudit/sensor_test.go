package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/pflag"

	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
)

// docsWithout parses NDJSON and drops the named top-level fields from every document.
func docsWithout(t *testing.T, ndjson string, drop ...string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, sc.Text())
		}
		if ev, _ := m["event"].(map[string]any); ev["dataset"] == "pcapaudit.summary" {
			continue // the summaries differ: one names the file, the other the interface
		}
		for _, k := range drop {
			delete(m, k)
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

// TestSensorFileMatchesAudit: a capture read through the sensor's live path (--file) gives
// the same flow and finding documents as the file audit, each with the observer fields.
func TestSensorFileMatchesAudit(t *testing.T) {
	schema := outputSchema(t)
	for _, name := range captures(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			off := runCmd(t, nil, "--format", "json", name)
			if off.code > 1 {
				t.Fatalf("audit: exit %d: %s", off.code, off.stderr)
			}
			live := runCmd(t, nil, "sensor", "--file", name, "--workers", "2", "--metrics-addr", "", "--suppress", "0", "--interim", "0")
			if live.code != 0 {
				t.Fatalf("sensor: exit %d: %s", live.code, live.stderr)
			}
			for _, line := range strings.Split(strings.TrimSpace(live.stdout), "\n") {
				if !strings.Contains(line, `"observer":{"type":"sensor","product":"pcapaudit","hostname":`) {
					t.Fatalf("a sensor document without observer fields: %.200s", line)
				}
			}
			validateNDJSON(t, schema, name, live.stdout, map[string]int{})
			// With the suppression window on (the default), repeats are held back and counted.
			sup := runCmd(t, nil, "sensor", "--file", name, "--metrics-addr", "")
			validateNDJSON(t, schema, name, sup.stdout, map[string]int{})
			want, got := docsWithout(t, off.stdout), docsWithout(t, live.stdout, "observer")
			if len(want) != len(got) {
				t.Fatalf("sensor wrote %d documents, the audit %d", len(got), len(want))
			}
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("document %d differs:\naudit:  %s\nsensor: %s", i, want[i], got[i])
				}
			}
		})
	}
}

// TestSensorConfigFile: the config file sets what the command line does not; the command
// line wins; an unknown key or a bad value names the file and line.
func TestSensorConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sensor.yaml")
	os.WriteFile(cfg, []byte("# a sensor\ninterface: eth9\nworkers: 3\nsuppress: 1m\nmetrics-addr: 127.0.0.1:0\n"), 0o644)
	cmd := newSensorCmd(io.Discard, io.Discard)
	if err := cmd.Flags().Parse([]string{"--workers", "5"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfig(cmd.Flags(), cfg); err != nil {
		t.Fatal(err)
	}
	get := func(fl *pflag.FlagSet, n string) string { return fl.Lookup(n).Value.String() }
	fl := cmd.Flags()
	if get(fl, "interface") != "eth9" || get(fl, "workers") != "5" || get(fl, "suppress") != "1m0s" {
		t.Errorf("interface %s, workers %s, suppress %s; want eth9 (file), 5 (flag wins), 1m0s (file)",
			get(fl, "interface"), get(fl, "workers"), get(fl, "suppress"))
	}
	for _, c := range []struct{ body, want string }{
		{"interface: eth0\nbogus: 1\n", "sensor.yaml:2: \"bogus\" is not a setting"},
		{"interface: eth0\nworkers: many\n", "sensor.yaml:2: workers:"},
		{"- eth0\n", "sensor.yaml:1: want a mapping"},
		{"interface: [a, b]\n", "sensor.yaml:1: interface: want a single value"},
	} {
		os.WriteFile(cfg, []byte(c.body), 0o644)
		r := runCmd(t, nil, "sensor", "--config", cfg)
		if r.code != exitError || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("config %q: exit %d, stderr %q; want exit 2 and one line with %q", c.body, r.code, r.stderr, c.want)
		}
	}
}

// TestSensorBadInput: every bad setting is one line and exit 2, before capture starts.
func TestSensorBadInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "f")
	os.WriteFile(notDir, nil, 0o644)
	badFilter := filepath.Join(dir, "bad.bpf")
	os.WriteFile(badFilter, []byte("2\n6 0 0 65535\n"), 0o644)
	pcap := captures(t)[0]
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no --interface"},
		{[]string{"--interface", "eth0", "--file", pcap}, "--interface and --file"},
		{[]string{"--interface", "pcapaudit-no-such-if0", "--metrics-addr", ""}, "pcapaudit-no-such-if0"},
		{[]string{"--file", pcap, "--metrics-addr", ln.Addr().String()}, "--metrics-addr"},
		{[]string{"--file", pcap, "--metrics-addr", "", "--output", filepath.Join(notDir, "x", "out.ndjson")}, "--output"},
		{[]string{"--file", pcap, "--metrics-addr", "", "--filter-file", badFilter}, "bad.bpf"},
		{[]string{"--file", pcap, "--metrics-addr", "", "--filter", "port 389"}, "--filter-file"},
		{[]string{"--file", filepath.Join(dir, "missing.pcap"), "--metrics-addr", ""}, "missing.pcap"},
		{[]string{"--file", pcap, "--workers", "0"}, "--workers"},
		{[]string{"--file", pcap, "--backend", "dpdk"}, "--backend"},
		{[]string{"--file", pcap, "--policy", notDir}, notDir},
		{[]string{"--replay"}, "no --interface"},
		{[]string{"--interface", "eth0", "--replay"}, "--replay goes with --file"},
	} {
		r := runCmd(t, nil, append([]string{"sensor"}, c.args...)...)
		if r.code != exitError || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("sensor %v: exit %d, stdout %d bytes, stderr %q; want exit 2, nothing out, and %q", c.args, r.code, len(r.stdout), r.stderr, c.want)
		}
		if strings.Contains(r.stderr, "goroutine ") {
			t.Errorf("sensor %v: a stack trace", c.args)
		}
	}
}

// TestSensorStopsCleanlyAndServesMetrics: a replay at its recorded pace, interrupted while it
// waits for a packet recorded much later: the sensor serves its metrics and health while it
// runs, and on the signal ends every open flow, writes its findings and a summary, and exits 0.
func TestSensorStopsCleanlyAndServesMetrics(t *testing.T) {
	// Two captures in one file, the second an hour after the first: the replay waits.
	dir := t.TempDir()
	joined := filepath.Join(dir, "two.pcap")
	joinCaptures(t, joined, time.Hour, 0, filepath.Join(repo, "testdata/real/ldap-simple-bind.pcap"), filepath.Join(repo, "testdata/real/ntp-client.pcap"))
	addr := freeAddr(t)
	out := filepath.Join(dir, "out.ndjson")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sensor", "--file", joined, "--replay", "--metrics-addr", addr, "--output", out, "--log-level", "info"}, nil, io.Discard, &stderr)
	}()
	var body string
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no metrics showing the first capture's 15 packets within 20 s; stderr:\n%s\nlast scrape:\n%.2000s", stderr.String(), body)
		}
		body = tryGet("http://" + addr + "/metrics")
		if strings.Contains(body, `pcapaudit_packets_total{interface="`+joined+`",worker="0"} 15`) {
			break
		}
	}
	if code, h := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s while capturing", code, h)
	}
	if code, _ := httpGet(t, "http://"+addr+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/: %d", code)
	}
	// The progress, as --debug-addr serves it for a file audit.
	var vars struct {
		Pcapaudit audit.ProgressDoc `json:"pcapaudit"`
	}
	if _, body := httpGet(t, "http://"+addr+"/debug/vars"); json.Unmarshal([]byte(body), &vars) != nil || vars.Pcapaudit.Packets != 15 || vars.Pcapaudit.File != joined {
		t.Errorf("/debug/vars progress: %+v, want the 15 packets read so far from %s", vars.Pcapaudit, joined)
	}
	if n := metric(body, "pcapaudit_flows_active"); n != 1 {
		t.Errorf("pcapaudit_flows_active sums to %d while the LDAP flow is open, want 1", n)
	}
	for _, m := range []string{"pcapaudit_kernel_drops_total", "pcapaudit_build_info", "pcapaudit_last_reload_success_timestamp_seconds"} {
		if m == "pcapaudit_kernel_drops_total" {
			if strings.Contains(body, m) {
				t.Errorf("a file replay has no kernel ring, but the metrics show %s", m)
			}
			continue
		}
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: lint by client_golang only")
	}
	start := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after the signal; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sensor did not stop within 10 s of the signal")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping took %v", d)
	}
	data, _ := os.ReadFile(out)
	docs := string(data)
	if !strings.Contains(docs, `"protocol":"ldap"`) || !strings.Contains(docs, `"rule":{"id":"ldap.cleartext-password"`) || !strings.Contains(docs, `"dataset":"pcapaudit.summary"`) {
		t.Errorf("the output lacks the open LDAP flow, its finding or the summary:\n%.3000s", docs)
	}
	if strings.Contains(docs, `"protocol":"ntp"`) {
		t.Error("the NTP flow recorded an hour later was reported: the replay did not keep the pace")
	}
}

// tryGet returns the body of url, or "" while nothing answers there.
func tryGet(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// joinCaptures writes the packets of the captures (pcap, Ethernet) one after the other into
// one pcap file, each capture starting at least gap after the previous one's last packet
// (a capture recorded later keeps its start: certificates are judged at the packet's time).
// A positive spacing instead puts every packet that far after the one before, from the latest
// start of the captures, as a replay at top speed does (no flow idles out, and no
// certificate is judged before its capture was recorded).
func joinCaptures(t *testing.T, dst string, gap, spacing time.Duration, srcs ...string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	if spacing > 0 {
		for _, name := range srcs {
			in, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := pcapgo.NewReader(in); err == nil {
				if _, ci, err := r.ReadPacketData(); err == nil && ci.Timestamp.After(last) {
					last = ci.Timestamp
				}
			}
			in.Close()
		}
	}
	for _, name := range srcs {
		in, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(in)
		if err != nil {
			t.Fatal(err)
		}
		var shift time.Duration
		for n := 0; ; n++ {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				break
			}
			switch {
			case spacing > 0:
				ci.Timestamp = last.Add(spacing)
			case n == 0:
				if !last.IsZero() && ci.Timestamp.Before(last.Add(gap)) {
					shift = last.Add(gap).Sub(ci.Timestamp)
				}
				ci.Timestamp = ci.Timestamp.Add(shift)
			default:
				ci.Timestamp = ci.Timestamp.Add(shift)
			}
			last = ci.Timestamp
			if err := w.WritePacket(ci, data); err != nil {
				t.Fatal(err)
			}
		}
		in.Close()
	}
}

// TestShippedSensorConfigLoads: the example configuration in docs/deploy names only settings
// the sensor has, with values it takes, and the systemd unit starts the sensor with flags it
// has.
func TestShippedSensorConfigLoads(t *testing.T) {
	cmd := newSensorCmd(io.Discard, io.Discard)
	if err := applyConfig(cmd.Flags(), filepath.Join(repo, "docs", "deploy", "sensor.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("interface").Value.String(); got != "eth1" {
		t.Errorf("interface %q from the example, want eth1", got)
	}
	unit, err := os.ReadFile(filepath.Join(repo, "docs", "deploy", "pcapaudit-sensor.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=\S+ sensor (.*)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("no ExecStart running 'pcapaudit sensor' in the unit")
	}
	if err := newSensorCmd(io.Discard, io.Discard).Flags().Parse(strings.Fields(string(m[1]))); err != nil {
		t.Errorf("the unit's ExecStart: %v", err)
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// systemd's own check of the unit, with the binary path pointing at one that exists.
		exe, _ := os.Executable()
		tmp := filepath.Join(t.TempDir(), "pcapaudit-sensor.service")
		os.WriteFile(tmp, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/pcapaudit", exe)), 0o644)
		if out, err := exec.Command(sa, "verify", tmp).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	for _, want := range []string{"AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN", "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// TestVXLANPortFlag: --vxlan-port says where VXLAN is followed: on the default port the
// tunnelled LDAP flow is found; with only another port the tunnel is left alone (a UDP flow on
// 4789 is then just UDP); a port out of range is a usage error.
func TestVXLANPortFlag(t *testing.T) {
	name := filepath.Join(repo, "testdata", "gen", "tunnel-vxlan.pcap")
	def := runCmd(t, nil, "--format", "json", name)
	other := runCmd(t, nil, "--format", "json", "--vxlan-port", "4790", name)
	if !strings.Contains(def.stdout, `"tunnel":[{"type":"vxlan"`) {
		t.Errorf("on the default port the VXLAN tunnel was not followed:\n%.500s", def.stdout)
	}
	if strings.Contains(other.stdout, `"type":"vxlan"`) || strings.Contains(other.stdout, `"dataset":"pcapaudit.flow"`) {
		t.Errorf("with --vxlan-port 4790 the tunnel on 4789 was still followed:\n%.500s", other.stdout)
	}
	if r := runCmd(t, nil, "--vxlan-port", "70000", name); r.code != exitError || !strings.Contains(r.stderr, "--vxlan-port 70000") {
		t.Errorf("--vxlan-port 70000: exit %d, %q", r.code, r.stderr)
	}
}

var metricLine = regexp.MustCompile(`(?m)^(pcapaudit_[a-z_]+)(\{[^}]*\})? ([0-9.e+]+)$`)

// metric sums the samples of a metric in a scrape.
func metric(scrape, name string) uint64 {
	var sum float64
	for _, m := range metricLine.FindAllStringSubmatch(scrape, -1) {
		if m[1] == name {
			v, _ := strconv.ParseFloat(m[3], 64)
			sum += v
		}
	}
	return uint64(sum)
}
