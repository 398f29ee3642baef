package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type pkt struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func readPcap(t testing.TB, name string) []pkt {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []pkt
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pkt{ci, d})
	}
}

func writePcap(t testing.TB, name string, pkts []pkt, gzipped bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for _, p := range pkts {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	data := b.Bytes()
	if gzipped {
		data = gz(data)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// triageSet is the project's real-server recordings as one capture (in time order), and the
// same packets split into a directory tree: a plain part, a gzip'd part in a subdirectory,
// two parts that overlap in time (every other packet), and files that are not captures.
// where maps each split file's (name, frame) to the packet's frame in the single capture.
type triageSet struct {
	single, dir string
	n           int
	where       map[string]int // "file#frame" → frame in single
	boundaries  []time.Time    // the first packet time of each part after the first
}

func makeTriageSet(t *testing.T) *triageSet {
	t.Helper()
	var all []pkt
	m, _ := filepath.Glob(filepath.Join(repo, "testdata", "real", "*.pcap"))
	for _, f := range m {
		all = append(all, readPcap(t, f)...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ci.Timestamp.Before(all[j].ci.Timestamp) })
	tmp := t.TempDir()
	s := &triageSet{single: filepath.Join(tmp, "single.pcap"), dir: filepath.Join(tmp, "set"), n: len(all), where: map[string]int{}}
	writePcap(t, s.single, all, false)
	a, b := len(all)/3, 2*len(all)/3
	parts := []struct {
		name string
		idx  []int
		gz   bool
	}{{name: "a/part1.pcap"}, {name: "b/part2.pcap.gz", gz: true}, {name: "c/part3-even.pcap"}, {name: "c/part3-odd"}}
	for i := range all {
		switch {
		case i < a:
			parts[0].idx = append(parts[0].idx, i)
		case i < b:
			parts[1].idx = append(parts[1].idx, i)
		case i%2 == 0:
			parts[2].idx = append(parts[2].idx, i)
		default:
			parts[3].idx = append(parts[3].idx, i)
		}
	}
	for _, i := range []int{a, b} {
		s.boundaries = append(s.boundaries, all[i].ci.Timestamp)
	}
	for _, p := range parts {
		var pk []pkt
		name := filepath.Join(s.dir, p.name)
		for fr, i := range p.idx {
			pk = append(pk, all[i])
			s.where[fmt.Sprintf("%s#%d", name, fr+1)] = i + 1
		}
		writePcap(t, name, pk, p.gz)
	}
	os.WriteFile(filepath.Join(s.dir, "NOTES.txt"), []byte("captures of the night of the incident\n"), 0o644)
	os.WriteFile(filepath.Join(s.dir, "b", "empty"), nil, 0o644)
	return s
}

// docs parses NDJSON output into its flow and finding documents (the summary left out).
func docs(t *testing.T, out string) []map[string]any {
	t.Helper()
	var ds []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		if ds := d["event"].(map[string]any)["dataset"]; ds == "pcapaudit.summary" {
			continue
		}
		ds = append(ds, d)
	}
	return ds
}

// normalise replaces the file and frame of each document by the frame of the same packet
// in the single capture, and returns the documents as sorted JSON lines.
func (s *triageSet) normalise(t *testing.T, ds []map[string]any, split bool) []string {
	t.Helper()
	var out []string
	for _, d := range ds {
		pa := d["pcapaudit"].(map[string]any)
		file := pa["file"].(string)
		flowFile := file
		if ff, ok := pa["flow_file"].(string); ok {
			flowFile = ff
		}
		conv := func(file string, key string) {
			fr := int(pa[key].(float64))
			if split {
				w, ok := s.where[fmt.Sprintf("%s#%d", file, fr)]
				if !ok {
					t.Fatalf("%s frame %d is not a packet of the split set", file, fr)
				}
				fr = w
			}
			pa[key] = fr
		}
		conv(file, "frame")
		if _, ok := pa["flow_frame"]; ok {
			conv(flowFile, "flow_frame")
		}
		delete(pa, "file")
		delete(pa, "flow_file")
		delete(d, "pcapaudit")
		dropFrames(d) // the protocol facts' frames count within their own file
		d["pcapaudit"] = pa
		b, _ := json.Marshal(d)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// TestTriageMergeMatchesSingle: a directory tree of split, gzip'd and overlapping parts,
// with files that are not captures, gives the same flows and findings — with every frame
// pointing at the same packet — as the single capture.
func TestTriageMergeMatchesSingle(t *testing.T) {
	s := makeTriageSet(t)
	one := runCmd(t, nil, "-f", "json", "--all", "--fail-on", "none", s.single)
	many := runCmd(t, nil, "-f", "json", "--all", "--fail-on", "none", s.dir)
	if one.code != 0 || many.code != 0 {
		t.Fatalf("exit %d / %d: %s %s", one.code, many.code, one.stderr, many.stderr)
	}
	want, got := s.normalise(t, docs(t, one.stdout), false), s.normalise(t, docs(t, many.stdout), true)
	if len(want) < 50 {
		t.Fatalf("only %d documents from the single capture", len(want))
	}
	if !slices.Equal(want, got) {
		t.Errorf("the merged directory differs from the single capture:\n%s", diff(strings.Join(want, "\n"), strings.Join(got, "\n")))
	}
	// The set is cut inside flows: those are one flow each, as in the single capture.
	spanning := 0
	for _, d := range docs(t, many.stdout) {
		ev := d["event"].(map[string]any)
		if ev["kind"] != "event" {
			continue
		}
		start, _ := time.Parse(time.RFC3339Nano, ev["start"].(string))
		end, _ := time.Parse(time.RFC3339Nano, ev["end"].(string))
		for _, b := range s.boundaries {
			if start.Before(b) && !end.Before(b) {
				spanning++
			}
		}
	}
	if spanning == 0 {
		t.Error("no flow spans two parts of the set: the test proves nothing about spanning flows")
	}
	for _, skipped := range []string{"NOTES.txt", "empty"} {
		if n := strings.Count(many.stderr, skipped+": skipped"); n != 1 {
			t.Errorf("%s: %d warnings, want one: %s", skipped, n, many.stderr)
		}
	}
}

// TestTriageFilters: each filter keeps exactly the documents it should, compared with what
// the unfiltered run says about them.
func TestTriageFilters(t *testing.T) {
	s := makeTriageSet(t)
	all := docs(t, runCmd(t, nil, "-f", "json", "--fail-on", "none", s.dir).stdout)
	key := func(d map[string]any) string {
		pa := d["pcapaudit"].(map[string]any)
		ru, _ := d["rule"].(map[string]any)
		return fmt.Sprintf("%v %v %v %v %v", d["source"].(map[string]any)["port"], d["destination"].(map[string]any)["port"], pa["frame"], pa["file"], ru["id"])
	}
	isFinding := func(d map[string]any) bool { return d["event"].(map[string]any)["kind"] == "alert" }
	port := func(d map[string]any, side string) float64 { return d[side].(map[string]any)["port"].(float64) }
	proto := func(d map[string]any) string { return d["network"].(map[string]any)["protocol"].(string) }
	sev := func(d map[string]any) string { return d["pcapaudit"].(map[string]any)["severity"].(string) }
	rule := func(d map[string]any) string { return d["rule"].(map[string]any)["id"].(string) }
	withFinding := map[string]bool{} // flows (by ports) with a finding
	for _, d := range all {
		if isFinding(d) {
			withFinding[fmt.Sprint(port(d, "source"), port(d, "destination"))] = true
		}
	}
	cases := []struct {
		args []string
		keep func(d map[string]any) bool
	}{
		{[]string{"--port", "636"}, func(d map[string]any) bool { return port(d, "source") == 636 || port(d, "destination") == 636 }},
		{[]string{"--port", "5060,5080"}, func(d map[string]any) bool {
			return slices.Contains([]float64{5060, 5080}, port(d, "source")) || slices.Contains([]float64{5060, 5080}, port(d, "destination"))
		}},
		{[]string{"--host", "127.0.0.0/8"}, func(map[string]any) bool { return true }},
		{[]string{"--host", "10.0.0.1", "--host", "::2"}, func(map[string]any) bool { return false }},
		{[]string{"--protocol", "ntp,sip"}, func(d map[string]any) bool { return proto(d) == "ntp" || proto(d) == "sip" }},
		{[]string{"--min-severity", "high"}, func(d map[string]any) bool {
			return !isFinding(d) || sev(d) == "high" || sev(d) == "critical"
		}},
		{[]string{"--rule", "ldap.*", "--only-findings"}, func(d map[string]any) bool {
			if isFinding(d) {
				return strings.HasPrefix(rule(d), "ldap.")
			}
			return proto(d) == "ldap" && withFinding[fmt.Sprint(port(d, "source"), port(d, "destination"))]
		}},
		{[]string{"--until", "2026-11-25T08:06:40Z"}, func(d map[string]any) bool {
			return d["event"].(map[string]any)["start"].(string) < "2026-11-25T08:06:40"
		}},
	}
	for _, c := range cases {
		r := runCmd(t, nil, append([]string{"-f", "json", "--fail-on", "none"}, append(c.args, s.dir)...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, r.code, r.stderr)
		}
		var want, got []string
		for _, d := range all {
			if c.keep(d) {
				want = append(want, key(d))
			}
		}
		for _, d := range docs(t, r.stdout) {
			got = append(got, key(d))
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(want, got) {
			t.Errorf("%v: kept %d documents, want %d:\n%s", c.args, len(got), len(want), diff(strings.Join(want, "\n"), strings.Join(got, "\n")))
		}
	}
	// A narrow cheap filter turns packets away before the detectors, and says so, in the
	// text report and in the NDJSON summary (which, like the rest of a merged run's output,
	// matches docs/schema.json: a flow that spans files adds flow_file).
	if r := runCmd(t, nil, "--fail-on", "none", "--port", "123", s.dir); !strings.Contains(r.stdout, "packets filtered out before the detectors") {
		t.Errorf("--port: the report does not count the packets filtered out:\n%s", r.stdout)
	}
	r := runCmd(t, nil, "-f", "json", "--fail-on", "none", "--port", "123", s.dir)
	if !regexp.MustCompile(`"filtered_packets":[1-9]`).MatchString(r.stdout) {
		t.Errorf("--port: the NDJSON summary does not count the packets filtered out")
	}
	kinds := map[string]int{}
	validateNDJSON(t, outputSchema(t), "--port 123", r.stdout, kinds)
	validateNDJSON(t, outputSchema(t), "merged", runCmd(t, nil, "-f", "json", "--all", "--fail-on", "none", s.dir).stdout, kinds)
}

// TestTriageWriteFlagged: the flagged capture holds exactly the packets of the flows with a
// finding at or above --min-severity, with a comment per finding on its evidence packet,
// read back with pcapgo and, when it is installed, with tshark.
func TestTriageWriteFlagged(t *testing.T) {
	s := makeTriageSet(t)
	out := filepath.Join(t.TempDir(), "flagged.pcapng")
	r := runCmd(t, nil, "-f", "json", "--fail-on", "none", "--min-severity", "high", "--write-flagged", out, s.dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// What the report says: the flagged flows' packets and the findings' evidence.
	flowPkts := map[string]float64{}
	var wantPkts float64
	wantComments := map[string][]string{} // "file#frame" of the evidence → rules
	for _, d := range docs(t, r.stdout) {
		pa := d["pcapaudit"].(map[string]any)
		k := fmt.Sprint(d["source"].(map[string]any)["port"], d["destination"].(map[string]any)["port"])
		if d["event"].(map[string]any)["kind"] == "alert" {
			id := d["rule"].(map[string]any)["id"].(string)
			ev := fmt.Sprintf("%s#%v", pa["file"], pa["frame"])
			wantComments[ev] = append(wantComments[ev], id)
			if _, ok := flowPkts[k]; !ok {
				flowPkts[k] = d["network"].(map[string]any)["packets"].(float64)
				wantPkts += flowPkts[k]
			}
		}
	}
	if len(wantComments) == 0 {
		t.Fatal("no high finding in the set")
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ng, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	// Every packet written is one of the set's, byte for byte, at its original time.
	orig := map[int64]string{}
	for _, p := range readPcap(t, s.single) {
		orig[p.ci.Timestamp.UnixNano()] = string(p.data)
	}
	var n, comments int
	var rules []string
	var last time.Time
	for {
		data, ci, opts, err := ng.ReadPacketDataWithOptions()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := orig[ci.Timestamp.UnixNano()]; !ok || o != string(data) {
			t.Fatalf("packet %d at %v is not the set's packet of that time", n+1, ci.Timestamp)
		}
		if ci.Timestamp.Before(last) {
			t.Errorf("packet %d goes back in time", n+1)
		}
		last = ci.Timestamp
		if intf, _ := ng.Interface(ci.InterfaceIndex); intf.LinkType != layers.LinkTypeEthernet {
			t.Errorf("packet %d: link type %v, want Ethernet", n+1, intf.LinkType)
		}
		n++
		for _, c := range opts.Comments {
			comments++
			rules = append(rules, strings.Fields(c)[1])
		}
	}
	var wantRules []string
	nWant := 0
	for _, ids := range wantComments {
		wantRules = append(wantRules, ids...)
		nWant += len(ids)
	}
	sort.Strings(rules)
	sort.Strings(wantRules)
	if float64(n) != wantPkts || comments != nWant || !slices.Equal(rules, wantRules) {
		t.Errorf("flagged capture: %d packets, %d comments (%v); want %v packets, %d comments (%v)", n, comments, rules, wantPkts, nWant, wantRules)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed: the pcapng was read back with pcapgo only")
		return
	}
	ts, err := exec.Command("tshark", "-r", out, "-Y", "frame.comment", "-T", "fields", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(ts)), "\n")
	if len(lines) != len(wantComments) {
		t.Errorf("tshark shows %d commented packets, want %d:\n%s", len(lines), len(wantComments), ts)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "pcapaudit ") || !strings.Contains(l, "(high)") && !strings.Contains(l, "(critical)") {
			t.Errorf("tshark comment %q: want the rule, its severity and reason", l)
		}
	}
}

// TestTriageBadInput: bad flags stop the run before it starts (exit 2, one line, nothing on
// stdout); a capture cut short in the middle of a set and a file that does not exist are
// named, and the rest is audited.
func TestTriageBadInput(t *testing.T) {
	s := makeTriageSet(t)
	for _, args := range [][]string{
		{"--host", "10.0.0.0/33"}, {"--host", "not-an-ip"}, {"--since", "yesterday"}, {"--protocol", "dns"},
		{"--protocol", ","}, {"--port", "0"}, {"--min-severity", "urgent"}, {"--rule", "[x"},
		{"--since", "10m", "--until", "5m"},
		{"--write-flagged", filepath.Join(s.dir, "no", "such", "dir", "x.pcapng")},
	} {
		r := runCmd(t, nil, append(args, s.dir)...)
		if r.code != 2 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "--"+strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want exit 2 and one line naming the flag", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := runCmd(t, []byte{}, "--write-flagged", filepath.Join(t.TempDir(), "x.pcapng"), "-"); r.code != 2 || !strings.Contains(r.stderr, "standard input") {
		t.Errorf("--write-flagged with stdin: exit %d, %q", r.code, r.stderr)
	}
	// Cut the gzip'd part in the middle of a record.
	part := filepath.Join(s.dir, "b", "part2.pcap.gz")
	data, _ := os.ReadFile(part)
	raw := gunzip(t, data)
	os.WriteFile(part, gz(raw[:len(raw)/2+7]), 0o644)
	// A capture whose file header is cut (recognised by its magic, unreadable), found in the
	// walk, and a file named on the command line that does not exist.
	damaged := filepath.Join(s.dir, "c", "damaged.pcap")
	os.WriteFile(damaged, []byte{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0}, 0o644)
	missing := filepath.Join(s.dir, "missing.pcap")
	r := runCmd(t, nil, "-f", "json", "--fail-on", "none", s.dir, missing)
	if r.code != 2 {
		t.Errorf("exit %d, want 2 (a file could not be read)", r.code)
	}
	for _, want := range []string{part + ": truncated capture at byte", damaged + ": truncated capture", missing} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if ds := docs(t, r.stdout); len(ds) < 20 {
		t.Errorf("only %d documents: the rest of the set was not audited", len(ds))
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zr, err := gzipNewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(&out, zr)
	return out.Bytes()
}

func gzipNewReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

func dropFrames(v any) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "frame")
		for _, e := range x {
			dropFrames(e)
		}
	case []any:
		for _, e := range x {
			dropFrames(e)
		}
	}
}
