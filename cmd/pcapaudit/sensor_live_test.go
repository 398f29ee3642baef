//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/internal/netnstest"
	"github.com/pcapaudit/pcapaudit/rules"
)

// These tests run the sensor for real: in a network namespace of their own, on one end of a
// veth pair, while tcpreplay sends captures of loopback traffic (127.0.0.0/8) into the other
// end. They need root, ip and tcpreplay (CI runs as root and installs them), and skip
// otherwise. The sensor is a binary built without the race detector, as it is shipped.

// buildSensor builds the pcapaudit command once per test binary, with the build tags of the
// test binary's own build (libpcap: the libpcap backend is in it).
var buildSensor = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pcapaudit-sensor-")
	if err != nil {
		return "", err
	}
	exe := filepath.Join(dir, "pcapaudit")
	args := []string{"build", "-o", exe}
	if libpcapBuild {
		args = append(args, "-tags", "libpcap")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return exe, nil
})

// liveSensor is a sensor running in a namespace.
type liveSensor struct {
	t      *testing.T
	v      *netnstest.Veth
	cmd    *exec.Cmd
	out    string
	addr   string
	stderr *syncBuffer
	exited chan error
}

// startSensor makes the namespace and starts the sensor on its end A, with args added.
func startSensor(t *testing.T, args ...string) *liveSensor {
	t.Helper()
	v := netnstest.New(t)
	if _, err := exec.LookPath("tcpreplay"); err != nil {
		t.Skip("needs tcpreplay (Debian: apt-get install tcpreplay)")
	}
	exe, err := buildSensor()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "-n", v.NS, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	s := &liveSensor{t: t, v: v, out: filepath.Join(t.TempDir(), "out.ndjson"), addr: "127.0.0.1:9187",
		stderr: &syncBuffer{}, exited: make(chan error, 1)}
	workers := "2"
	if slices.Contains(args, "pcap") {
		workers = "1" // one libpcap handle
	}
	s.cmd = v.Command(context.Background(), exe, append([]string{"sensor", "--interface", v.A, "--workers", workers,
		"--metrics-addr", s.addr, "--output", s.out, "--log-level", "info"}, args...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	s.waitLog(`"message":"capturing"`, 20*time.Second)
	return s
}

// waitLog waits for a line of the sensor's log.
func (s *liveSensor) waitLog(text string, d time.Duration) {
	s.t.Helper()
	for end := time.Now().Add(d); !strings.Contains(s.stderr.String(), text); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			s.t.Fatalf("no %q in the sensor's log within %v:\n%s", text, d, s.stderr.String())
		}
	}
}

// get fetches a path of the sensor's HTTP address from inside its namespace.
func (s *liveSensor) get(path string) (string, error) {
	var body string
	err := s.v.Do(func() error {
		c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, s.addr)
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, body, _ = strings.Cut(string(b), "\r\n\r\n")
		if !strings.HasPrefix(string(b), "HTTP/1.0 200") && !strings.HasPrefix(string(b), "HTTP/1.1 200") {
			return fmt.Errorf("GET %s: %.100s", path, b)
		}
		return nil
	})
	return body, err
}

// replay sends a capture into end B at tcpreplay's top speed and returns the packets sent.
func (s *liveSensor) replay(pcap string) int {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := s.v.Command(ctx, "tcpreplay", "--intf1="+s.v.B, "--topspeed", pcap).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tcpreplay: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Successful packets:\s+(\d+)`).FindSubmatch(out)
	f := regexp.MustCompile(`Failed packets:\s+(\d+)`).FindSubmatch(out)
	if m == nil || f == nil || string(f[1]) != "0" {
		s.t.Fatalf("tcpreplay did not send every packet:\n%s", out)
	}
	s.t.Logf("tcpreplay: %s", regexp.MustCompile(`Rated: [^\n]*`).Find(out))
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// waitPackets waits until the sensor has read n packets, and returns the last scrape.
func (s *liveSensor) waitPackets(n int, d time.Duration) string {
	s.t.Helper()
	var scrape string
	for end := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		scrape, _ = s.get("/metrics")
		if got := metric(scrape, "pcapaudit_packets_total"); got >= uint64(n) {
			return scrape
		}
		if time.Now().After(end) {
			s.t.Fatalf("the sensor read %d of %d packets within %v (kernel drops %d)\n%s", metric(scrape, "pcapaudit_packets_total"), n, d,
				metric(scrape, "pcapaudit_kernel_drops_total"), s.stderr.String())
		}
	}
}

// stop sends SIGTERM and wants exit 0 within a few seconds.
func (s *liveSensor) stop() {
	s.t.Helper()
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			s.t.Fatalf("sensor: %v after SIGTERM\n%s", err, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		s.t.Fatalf("the sensor did not stop within 15 s of SIGTERM\n%s", s.stderr.String())
	}
	s.t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// comparable reduces NDJSON flow and finding documents to what a live capture and the file
// audit must agree on: everything but times, frame numbers, file names and observer fields,
// which a live capture numbers and stamps itself; and for a finding of a threshold rule (which
// fires on whichever flow crosses it), the rule, the client and the message, not that flow.
// It returns them sorted (flows that end together end in the order their rings are read).
func comparable(t *testing.T, ndjson string) (flows, findings []string) {
	t.Helper()
	aggregate := map[string]bool{}
	for _, r := range rules.Default().Rules {
		aggregate[r.ID] = r.Aggregate()
	}
	drop := map[string]bool{"@timestamp": true, "observer": true, "frame": true, "flow_frame": true, "file": true,
		"time": true, "start": true, "end": true, "duration": true}
	var strip func(v any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k := range x {
				if drop[k] {
					delete(x, k)
				} else {
					x[k] = strip(x[k])
				}
			}
		case []any:
			for i := range x {
				x[i] = strip(x[i])
			}
		}
		return v
	}
	sc := bufio.NewScanner(strings.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		ds := m["event"].(map[string]any)["dataset"]
		if r, ok := m["rule"].(map[string]any); ok && aggregate[r["id"].(string)] {
			m = map[string]any{"rule": r["id"], "client": m["source"].(map[string]any)["ip"], "message": m["message"]}
		}
		b, _ := json.Marshal(strip(m))
		switch ds {
		case "pcapaudit.flow":
			flows = append(flows, string(b))
		case "pcapaudit.finding":
			findings = append(findings, string(b))
		}
	}
	slices.Sort(flows)
	slices.Sort(findings)
	return flows, findings
}

func sameDocs(t *testing.T, what string, offline, live []string) {
	t.Helper()
	if slices.Equal(offline, live) {
		return
	}
	t.Errorf("%s: the sensor reported %d, the file audit %d", what, len(live), len(offline))
	for i := 0; i < len(offline) || i < len(live); i++ {
		var a, b string
		if i < len(offline) {
			a = offline[i]
		}
		if i < len(live) {
			b = live[i]
		}
		if a != b {
			t.Errorf("first difference:\naudit:  %.600s\nsensor: %.600s", a, b)
			return
		}
	}
}

// TestSensorLiveMatchesAudit: the project's captures, replayed into the sensor's interface,
// give the flows and findings the file audit gives for the same packets; the metrics count
// every packet and pass promtool; SIGHUP reloads; SIGTERM ends with exit 0.
func TestSensorLiveMatchesAudit(t *testing.T) {
	backends := []string{"afpacket"}
	if libpcapBuild {
		backends = append(backends, "pcap")
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { sensorLiveMatchesAudit(t, b) })
	}
}

func sensorLiveMatchesAudit(t *testing.T, backend string) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, rules.Default().Source, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSensor(t, "--suppress", "0", "--interim", "0", "--backend", backend, "--policy", policy)
	workers := 2
	if backend == "pcap" {
		workers = 1
	}
	merged := filepath.Join(t.TempDir(), "all.pcap")
	joinCaptures(t, merged, time.Millisecond, 10*time.Microsecond, captures(t)...)
	sent := s.replay(merged)
	scrape := s.waitPackets(sent, 30*time.Second)
	if got := metric(scrape, "pcapaudit_packets_total"); got != uint64(sent) {
		t.Errorf("the sensor read %d packets, tcpreplay sent %d", got, sent)
	}
	if d := metric(scrape, "pcapaudit_kernel_drops_total"); d != 0 {
		t.Errorf("the kernel dropped %d packets", d)
	}
	if k := metric(scrape, "pcapaudit_kernel_packets_total"); k != uint64(sent) {
		t.Errorf("the kernel passed %d packets to the rings, tcpreplay sent %d", k, sent)
	}
	if h, err := s.get("/healthz"); err != nil {
		t.Errorf("/healthz: %v", err)
	} else if !strings.HasPrefix(h, fmt.Sprintf("ok: %d workers", workers)) {
		t.Errorf("/healthz: %q", h)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(scrape)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("promtool is not installed in CI (Debian package prometheus)")
	}
	// A broken policy on SIGHUP is logged and the old one kept; a good one is loaded.
	os.WriteFile(policy, []byte("version: 1\nrules: [\n"), 0o644)
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog("SIGHUP: the policy did not load, the old one stays", 10*time.Second)
	if scrape, _ = s.get("/metrics"); !strings.Contains(scrape, `pcapaudit_reloads_total{result="failure"} 1`) {
		t.Errorf("after a failed reload the metrics do not count it:\n%s", grepLines(scrape, "reload"))
	}
	os.WriteFile(policy, rules.Default().Source, 0o644)
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog("SIGHUP: output reopened, policy and filter reloaded", 10*time.Second)
	if scrape, _ = s.get("/metrics"); !strings.Contains(scrape, `pcapaudit_reloads_total{result="success"} 2`) {
		t.Errorf("after SIGHUP the metrics do not count a second successful load:\n%s", grepLines(scrape, "reload"))
	}
	s.stop()

	live, err := os.ReadFile(s.out)
	if err != nil {
		t.Fatal(err)
	}
	off := runCmd(t, nil, "--format", "json", "--policy", policy, merged)
	if off.code > 1 {
		t.Fatalf("audit: exit %d: %s", off.code, off.stderr)
	}
	oflows, ofind := comparable(t, off.stdout)
	lflows, lfind := comparable(t, string(live))
	if len(oflows) < 20 || len(ofind) < 20 {
		t.Fatalf("the audit gives only %d flows and %d findings", len(oflows), len(ofind))
	}
	sameDocs(t, "flows", oflows, lflows)
	sameDocs(t, "findings", ofind, lfind)
}

// TestSensorKeepsUpWithTheMix: a 200,000-packet slice of the generated mix at tcpreplay's top
// speed: the sensor reads every packet the kernel passed (no ring drops), and reports the flows
// and findings the file audit finds in the same packets.
//
// Top speed squeezes the slice's minutes of packet time into about a second of wall clock,
// which the sensor expires flows by: a timeout shorter than the slice (the few seconds an
// answered UDP exchange lingers) ends flows in the file audit that the sensor still holds.
// Both run with those lingers off; every other timeout is longer than the slice.
func TestSensorKeepsUpWithTheMix(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 200,000 packets")
	}
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	src := strings.Replace(string(rules.Default().Source), "udp_answered: {ntp: 5s, ldap: 2s, sip: 5s}", "udp_answered: {ntp: 0s, ldap: 0s, sip: 0s}", 1)
	if src == string(rules.Default().Source) {
		t.Fatal("the default policy's udp_answered setting has changed: update this test")
	}
	if err := os.WriteFile(policy, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSensor(t, "--suppress", "0", "--interim", "0", "--policy", policy)
	mix := filepath.Join(t.TempDir(), "mix.pcap")
	if out, err := exec.Command("go", "run", "../pcapgen", "-scenario", "mix", "-packets", "200000", "-flows", "20000", "-o", mix).CombinedOutput(); err != nil {
		t.Fatalf("pcapgen: %v\n%s", err, out)
	}
	start := time.Now()
	sent := s.replay(mix)
	t.Logf("%d packets replayed in %v", sent, time.Since(start).Round(time.Millisecond))
	scrape := s.waitPackets(sent, 60*time.Second)
	if got, d := metric(scrape, "pcapaudit_packets_total"), metric(scrape, "pcapaudit_kernel_drops_total"); got != uint64(sent) || d != 0 {
		t.Errorf("the sensor read %d of %d packets; the kernel dropped %d", got, sent, d)
	}
	s.stop()
	live, _ := os.ReadFile(s.out)
	off := runCmd(t, nil, "--format", "json", "--policy", policy, mix)
	oflows, ofind := comparable(t, off.stdout)
	lflows, lfind := comparable(t, string(live))
	sameDocs(t, "flows", oflows, lflows)
	sameDocs(t, "findings", ofind, lfind)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSensorRefusesBadFilterAndInterface: a filter that does not compile, and an interface
// that does not exist, are one line on stderr and exit 2, before any capture starts.
func TestSensorRefusesBadFilterAndInterface(t *testing.T) {
	v := netnstest.New(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("needs tcpdump to compile filters")
	}
	exe, err := buildSensor()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--interface", v.A, "--filter", "port nope"}, "port nope"},
		{[]string{"--interface", "no-such-if0"}, "no-such-if0"},
	} {
		var stderr bytes.Buffer
		cmd := v.Command(t.Context(), exe, append([]string{"sensor", "--metrics-addr", ""}, c.args...)...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("sensor %v: %v, stderr %q; want exit 2 and one line naming %q", c.args, err, stderr.String(), c.want)
		}
	}
}

// TestSensorSpreadsOneTunnelOverWorkers: the kernel's fanout hashes a tunnel by its outer
// header, so one ERSPAN session arrives on one ring; the sensor hands each inner flow to the
// worker its own hash picks, so both workers follow flows.
func TestSensorSpreadsOneTunnelOverWorkers(t *testing.T) {
	s := startSensor(t, "--suppress", "0", "--interim", "0")
	pcap := filepath.Join(t.TempDir(), "erspan.pcap")
	if out, err := exec.Command("go", "run", "../pcapgen", "-scenario", "mix", "-packets", "20000", "-flows", "2000", "-wrap", "erspan2", "-o", pcap).CombinedOutput(); err != nil {
		t.Fatalf("pcapgen: %v\n%s", err, out)
	}
	sent := s.replay(pcap)
	scrape := s.waitPackets(sent, 30*time.Second)
	rings := map[string]uint64{}
	for _, m := range metricLine.FindAllStringSubmatch(scrape, -1) {
		if m[1] == "pcapaudit_packets_total" {
			v, _ := strconv.ParseFloat(m[3], 64)
			rings[m[2]] = uint64(v)
		}
	}
	t.Logf("packets per ring: %v", rings)
	var made []uint64
	for _, m := range metricLine.FindAllStringSubmatch(scrape, -1) {
		if m[1] == "pcapaudit_flows_created_total" {
			v, _ := strconv.ParseFloat(m[3], 64)
			made = append(made, uint64(v))
		}
	}
	if len(made) != 2 || made[0] == 0 || made[1] == 0 {
		t.Errorf("flows created per worker %v: want both workers following flows", made)
	} else if lo, hi := min(made[0], made[1]), max(made[0], made[1]); lo*3 < hi {
		t.Errorf("flows created per worker %v: far from an even spread", made)
	}
	s.stop()
}
