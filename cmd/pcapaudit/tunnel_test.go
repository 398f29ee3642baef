package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/encap"
)

// wrapCapture writes every frame of the capture in into out, wrapped by wrap.
func wrapCapture(t *testing.T, in, out string, wrap func([]byte) []byte) {
	t.Helper()
	src, err := capture.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	var p capture.Packet
	for {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.LinkType != layers.LinkTypeEthernet {
			t.Fatalf("%s: link type %v", in, p.LinkType)
		}
		data := wrap(p.Data)
		wire := p.Length + len(data) - len(p.Data)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(data), Length: wire}, data); err != nil {
			t.Fatal(err)
		}
	}
}

// auditDocs audits a capture and returns its flow and finding documents, and what each says
// of how its flow arrived (pcapaudit.tunnel, network.vlan, network.inner), removed from the
// document along with the file name.
func auditDocs(t *testing.T, path string) (docs []map[string]any, arrival []string) {
	t.Helper()
	r := runCmd(t, nil, "--format", "json", "--all", path)
	if r.code != 0 && r.code != 1 {
		t.Fatalf("%s: exit %d: %s", path, r.code, r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		if ev, _ := d["event"].(map[string]any); ev["kind"] == "metric" {
			continue
		}
		pa, _ := d["pcapaudit"].(map[string]any)
		nw, _ := d["network"].(map[string]any)
		a, _ := json.Marshal([]any{pa["tunnel"], nw["vlan"], nw["inner"]})
		arrival = append(arrival, string(a))
		delete(pa, "file")
		delete(pa, "tunnel")
		delete(nw, "vlan")
		delete(nw, "inner")
		docs = append(docs, d)
	}
	return docs, arrival
}

// TestRealCapturesInEveryTunnel: every real-server capture wrapped in every encapsulation gives
// the same flows, labels, findings and Community IDs as unwrapped (frame for frame), with the
// tunnel facts added to every document.
func TestRealCapturesInEveryTunnel(t *testing.T) {
	reals, _ := filepath.Glob(filepath.Join(repo, "testdata", "real", "*.pcap"))
	if len(reals) == 0 {
		t.Fatal("no real captures")
	}
	want := map[string][]map[string]any{}
	for _, c := range reals {
		docs, arrival := auditDocs(t, c)
		if len(docs) == 0 {
			t.Fatalf("%s: no documents", c)
		}
		for _, a := range arrival {
			if a != "[null,null,null]" {
				t.Fatalf("%s: plain capture with arrival facts %s", c, a)
			}
		}
		want[c] = docs
	}
	for _, k := range encap.Kinds {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			wrap, err := encap.Wrapper(k.Name)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, c := range reals {
				out := filepath.Join(dir, filepath.Base(c))
				wrapCapture(t, c, out, wrap)
				got, arrival := auditDocs(t, out)
				if !reflect.DeepEqual(got, want[c]) {
					g, _ := json.Marshal(got)
					w, _ := json.Marshal(want[c])
					t.Errorf("%s: differs from the unwrapped capture:\n got  %.600s\n want %.600s", filepath.Base(c), g, w)
					continue
				}
				for i, a := range arrival {
					typ := strings.TrimSuffix(strings.SplitN(k.Name, "-", 2)[0], "1")
					switch k.Name {
					case "qinq":
						typ = `{"id":"10"}`
					case "erspan2", "erspan3":
						typ = "erspan"
					case "gtpu":
						typ = "gtp-u"
					case "vxlan-in-gre", "mpls-over-gre", "gre-key":
						typ = "gre"
					case "qinq-in-vxlan":
						typ = "vxlan"
					case "ip-in-ip":
						typ = "ip-in-ip"
					}
					if !strings.Contains(a, typ) {
						t.Errorf("%s: document %d: arrival %s does not name %s", filepath.Base(c), i, a, typ)
					}
				}
			}
		})
	}
}

// TestTunnelPolicyExample: the rule docs/tunnels.md shows loads with the default policy, fires
// on the generated VXLAN capture (VNI 5001) and not on the same traffic in another VNI or
// unwrapped.
func TestTunnelPolicyExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "tunnels.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- tunnel rule -->\n```yaml\n")
	rule, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("docs/tunnels.md lacks the rule example")
	}
	def := runCmd(t, nil, "policy")
	if def.code != 0 {
		t.Fatalf("policy: %d %s", def.code, def.stderr)
	}
	policy := writeFile(t, "site.yaml", []byte(strings.TrimRight(def.stdout, "\n")+"\n\n"+rule))
	if r := runCmd(t, nil, "policy", "check", policy); r.code != 0 {
		t.Fatalf("policy check: exit %d %s", r.code, r.stderr)
	}
	for _, c := range []struct {
		capture string
		fires   bool
	}{
		{"testdata/gen/tunnel-vxlan.pcap", true},
		{"testdata/gen/tunnel-geneve.pcap", false},
		{"testdata/gen/ldap-cleartext-636.pcap", false},
	} {
		r := runCmd(t, nil, "--format", "json", "--policy", policy, filepath.Join(repo, c.capture))
		fired := strings.Contains(r.stdout, `"id":"site.tenant-5001-ldap-cleartext"`)
		if fired != c.fires {
			t.Errorf("%s: rule fired %v, want %v:\n%s", c.capture, fired, c.fires, r.stdout)
		}
		if fired && !strings.Contains(r.stdout, "cleartext LDAP inside VNI 5001 through tunnel endpoint 127.0.100.2") {
			t.Errorf("%s: message not as written:\n%s", c.capture, r.stdout)
		}
		// The rules of the default policy still fire: the example adds, it does not replace.
		if !strings.Contains(r.stdout, `"id":"ldap.cleartext-password"`) {
			t.Errorf("%s: default rules lost", c.capture)
		}
	}
}

// TestCSVSaysHowAFlowArrived: the CSV output, like the others, says how a flow arrived: its
// VLAN ids and its tunnel layers, outermost first.
func TestCSVSaysHowAFlowArrived(t *testing.T) {
	r := runCmd(t, nil, "-f", "csv", filepath.Join(repo, "testdata", "gen", "tunnel-qinq-in-vxlan.pcap"))
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("CSV: %v, %d rows\n%s", err, len(rows), r.stdout)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	flow := rows[1]
	if got := [3]string{flow[col["vlan"]], flow[col["inner_vlan"]], flow[col["arrival"]]}; got != [3]string{"30", "40", "vlan 5 › vxlan 8 127.0.100.1→127.0.100.2 › vlan 30/40"} {
		t.Errorf("vlan, inner_vlan, arrival = %q", got)
	}
}

// TestHTMLSaysHowAFlowArrived: the HTML report's evidence says how the flow arrived.
func TestHTMLSaysHowAFlowArrived(t *testing.T) {
	page := filepath.Join(t.TempDir(), "report.html")
	runCmd(t, nil, "--html", page, filepath.Join(repo, "testdata", "gen", "tunnel-vxlan.pcap"))
	b, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(b), "via vxlan 5001 127.0.100.1→127.0.100.2") {
		t.Errorf("the HTML report does not say the flow came through VXLAN 5001 (%v)", err)
	}
}
