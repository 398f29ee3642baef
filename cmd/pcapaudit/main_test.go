package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden outputs in testdata/golden")

// repo is the repository root, seen from this package.
const repo = "../.."

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, bytes.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// captures returns the captures the project ships: generated ones and real-server recordings.
func captures(t *testing.T) []string {
	t.Helper()
	var all []string
	for _, dir := range []string{"testdata/gen", "testdata/real"} {
		m, _ := filepath.Glob(filepath.Join(repo, dir, "*.pcap*"))
		all = append(all, m...)
	}
	if len(all) == 0 {
		t.Fatal("no captures under testdata/gen or testdata/real")
	}
	sort.Strings(all)
	return all
}

// goldenName is the golden file of a capture, relative to the repository root.
func goldenName(capture, ext string) string {
	dir := filepath.Base(filepath.Dir(capture))
	base := strings.TrimSuffix(filepath.Base(capture), filepath.Ext(capture))
	return filepath.Join("testdata", "golden", dir+"-"+base+ext)
}

// TestGolden audits every shipped capture in both formats and compares the output byte for
// byte with testdata/golden (go test ./cmd/pcapaudit -update rewrites them).
func TestGolden(t *testing.T) {
	for _, c := range captures(t) {
		rel := strings.TrimPrefix(c, repo+"/")
		t.Run(rel, func(t *testing.T) {
			// Audit from the repository root so the file names in the output are stable.
			golden := map[string]string{"text": goldenName(c, ".txt"), "json": goldenName(c, ".ndjson")}
			t.Chdir(repo)
			for _, format := range []string{"text", "json"} {
				r := runCmd(t, nil, "--format", format, "--color", "never", "--all", rel)
				if r.code != 0 && r.code != 1 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				golden := golden[format] // relative to the repository root, the working directory
				got := []byte(r.stdout + "exit " + itoa(r.code) + "\n")
				if format == "json" {
					got = []byte(r.stdout) // NDJSON stays valid NDJSON
				}
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./cmd/pcapaudit -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the golden output %s:\n%s", format, golden, diff(string(want), string(got)))
				}
			}
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

// diff shows the first differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strings.TrimSpace(itoaN(i+1)) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return "(same lines)"
}

func itoaN(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestSchema checks every document of the golden NDJSON outputs: the fields every document
// must have, their types, and that every field path is documented in docs/schema.md.
func TestSchema(t *testing.T) {
	documented := schemaFields(t)
	files, _ := filepath.Glob(filepath.Join(repo, "testdata", "golden", "*.ndjson"))
	if len(files) == 0 {
		t.Fatal("no golden NDJSON files")
	}
	required := []string{"@timestamp", "event.kind", "event.dataset", "event.start", "event.end",
		"source.ip", "source.port", "destination.ip", "destination.port", "network.transport",
		"network.protocol", "network.packets", "network.bytes", "source.packets", "source.bytes",
		"destination.packets", "destination.bytes"}
	alert := []string{"rule.id", "rule.name", "rule.description", "event.severity", "message",
		"pcapaudit.frame", "pcapaudit.file"}
	ts := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)
	undocumented := map[string]string{}
	docs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			docs++
			var doc map[string]any
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("%s:%d: not JSON: %v", f, i+1, err)
			}
			flat := map[string]any{}
			flatten("", doc, flat)
			need := required
			kind, _ := flat["event.kind"].(string)
			switch kind {
			case "metric":
				// The summary, last in every report.
				need = []string{"@timestamp", "event.dataset", "event.start", "event.end", "pcapaudit.summary.files[].path",
					"pcapaudit.summary.flows", "pcapaudit.summary.findings.critical", "pcapaudit.summary.bounds.undecodable_packets"}
				if rest := strings.TrimSpace(string(data)); !strings.HasSuffix(rest, line) {
					t.Errorf("%s:%d: the summary is not the last document", f, i+1)
				}
			case "event":
			case "alert":
				need = append(append([]string{}, required...), alert...)
				sev, _ := flat["event.severity"].(float64)
				if sev != 21 && sev != 47 && sev != 73 && sev != 99 {
					t.Errorf("%s:%d: event.severity %v", f, i+1, flat["event.severity"])
				}
			default:
				t.Errorf("%s:%d: event.kind %q", f, i+1, kind)
			}
			for _, k := range need {
				if _, ok := flat[k]; !ok {
					t.Errorf("%s:%d: missing %s", f, i+1, k)
				}
			}
			for _, k := range []string{"@timestamp", "event.start", "event.end"} {
				if s, _ := flat[k].(string); !ts.MatchString(s) {
					t.Errorf("%s:%d: %s = %q is not RFC 3339 with nanoseconds", f, i+1, k, flat[k])
				}
			}
			if p, _ := flat["network.protocol"].(string); kind != "metric" && !map[string]bool{"ntp": true, "sip": true, "sip-tls": true, "ldap": true, "ldaps": true, "unknown": true}[p] {
				t.Errorf("%s:%d: network.protocol %q", f, i+1, p)
			}
			for k := range flat {
				if !documented[k] {
					undocumented[k] = f
				}
			}
		}
	}
	for k, f := range undocumented {
		t.Errorf("field %s (in %s) is not documented in docs/schema.md", k, filepath.Base(f))
	}
	t.Logf("%d documents checked", docs)
}

// flatten turns nested objects into dotted paths; array elements share the path with "[]".
func flatten(prefix string, v any, out map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		if prefix == "pcapaudit.observed" {
			out[prefix] = x // free-form: the values a rule observed
			return
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		if len(x) == 0 {
			out[prefix] = x
		}
		for _, e := range x {
			if _, isObj := e.(map[string]any); isObj {
				flatten(prefix+"[]", e, out)
			} else {
				out[prefix] = x
			}
		}
	default:
		out[prefix] = v
	}
}

// schemaFields returns the field names of the field reference, docs/schema.md: the first
// column of every table row that is a `code span`.
func schemaFields(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "docs", "schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	fields := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(s, -1) {
		fields[m[1]] = true
	}
	if len(fields) < 20 {
		t.Fatalf("only %d fields documented in docs/schema.md", len(fields))
	}
	return fields
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// TestBadInput: every kind of bad input gets exit 2 and one clear line naming the file,
// never a panic or a stack trace.
func TestBadInput(t *testing.T) {
	good := filepath.Join(repo, "testdata", "real", "ldap-simple-bind.pcap")
	goodData, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		code    int
		stderr  string // must contain
		stdout  string // must contain
		nostack bool
	}{
		{name: "text file", args: []string{writeFile(t, "notes.txt", []byte("hello, this is not a capture\n"))}, code: 2, stderr: "notes.txt"},
		{name: "random bytes", args: []string{writeFile(t, "random.pcap", bytes.Repeat([]byte{0x5a, 0x13, 0xf7}, 999))}, code: 2, stderr: "random.pcap"},
		{name: "empty file", args: []string{writeFile(t, "empty.pcap", nil)}, code: 2, stderr: "empty.pcap"},
		{name: "missing file", args: []string{"/nonexistent/x.pcap"}, code: 2, stderr: "/nonexistent/x.pcap"},
		{name: "corrupt gzip", args: []string{writeFile(t, "bad.pcap.gz", gz(goodData)[:40])}, code: 2, stderr: "bad.pcap.gz"},
		{name: "wrong flag", args: []string{"--frobnicate", good}, code: 2, stderr: "frobnicate"},
		{name: "bad format", args: []string{"--format", "xml", good}, code: 2, stderr: "xml"},
		{name: "bad fail-on", args: []string{"--fail-on", "severe", good}, code: 2, stderr: "severe"},
		{name: "no file", args: nil, code: 2, stderr: "no capture file"},
		{name: "bad workers", args: []string{"--workers", "0", good}, code: 2, stderr: "--workers 0"},
		{name: "bad max-flows", args: []string{"--max-flows", "-5", good}, code: 2, stderr: "--max-flows -5"},
		{name: "bad inspect-window", args: []string{"--inspect-window", "10", good}, code: 2, stderr: "--inspect-window 10"},
		{name: "broken policy", args: []string{"--policy", writeFile(t, "p.yaml", []byte("version: 1\nrules:\n  - id: x\n    when: 'ntp.nosuchfield'\n")), good}, code: 2, stderr: "p.yaml"},
		{name: "truncated capture still audited", args: []string{"--fail-on", "none", writeFile(t, "cut.pcap", goodData[:len(goodData)-7])}, code: 0, stderr: "cut.pcap", stdout: "ldap"},
		{name: "one bad among good", args: []string{writeFile(t, "junk.pcap", []byte("junk junk junk junk junk")), good}, code: 2, stderr: "junk.pcap", stdout: "ldap.cleartext-password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, nil, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, c.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("stderr %q does not name %q", r.stderr, c.stderr)
			}
			if !strings.Contains(r.stdout, c.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", c.stdout, r.stdout)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace on stderr: %s", r.stderr)
			}
		})
	}
}

func TestStdinAndExitCodes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, "testdata", "real", "ldap-simple-bind.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, data, "-"); r.code != 1 || !strings.Contains(r.stdout, "ldap.cleartext-password") {
		t.Errorf("stdin: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if r := runCmd(t, gz(data), "--fail-on", "none", "-"); r.code != 0 {
		t.Errorf("gzip on stdin with --fail-on none: exit %d: %s", r.code, r.stderr)
	}
	ntp := filepath.Join(repo, "testdata", "real", "ntp-client.pcap")
	if r := runCmd(t, nil, "--fail-on", "medium", ntp); r.code != 0 {
		t.Errorf("plain NTP client with --fail-on medium: exit %d (%s)", r.code, r.stdout)
	}
}

// TestSecretsNeverPrinted: the passwords the generator and the recordings put on the wire
// appear in no output format and in no log.
func TestSecretsNeverPrinted(t *testing.T) {
	// The passwords testdata/scripts/record-real.sh and the generator put on the wire, and the
	// base64 of one (as SASL PLAIN and SIP Basic carry it).
	secrets := []string{"adminpass", "alicepass", "wrongpass", "sippass", "secret-pw-1234", "YWRtaW5wYXNz"}
	check := func(what string, args []string, r result, page []byte) {
		for _, s := range secrets {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) || bytes.Contains(page, []byte(s)) {
				t.Errorf("%s %v: the secret %q was printed", what, args, s)
			}
		}
	}
	for _, c := range captures(t) {
		for _, args := range [][]string{{"-f", "text", "--all"}, {"-f", "json", "--all"}, {"-f", "csv", "--all"}, {"--log-level", "debug"}} {
			check(c, args, runCmd(t, nil, append(args, c)...), nil)
		}
	}
	// The summary and the HTML report, over every capture at once.
	html := filepath.Join(t.TempDir(), "report.html")
	for _, args := range [][]string{
		{"--all", "--html", html}, {"summary", "--all"}, {"summary", "-f", "json", "--all"},
		{"summary", "-f", "csv", "--all", "--html", html},
	} {
		os.Remove(html)
		r := runCmd(t, nil, append(args, captures(t)...)...)
		page, _ := os.ReadFile(html)
		if slices.Contains(args, "--html") && !bytes.Contains(page, []byte("</html>")) {
			t.Errorf("%v: no HTML report written", args)
		}
		check("all captures", args, r, page)
	}
}

func TestPolicyCommands(t *testing.T) {
	r := runCmd(t, nil, "policy")
	if r.code != 0 || !strings.Contains(r.stdout, "ldap.cleartext-password") {
		t.Fatalf("policy: exit %d\n%s", r.code, r.stdout)
	}
	p := writeFile(t, "copy.yaml", []byte(r.stdout))
	if r := runCmd(t, nil, "policy", "check", p); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Errorf("policy check of the printed default: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	bad := writeFile(t, "bad.yaml", []byte("version: 1\nrules:\n  - id: a\n    name: a\n    severity: dire\n"))
	if r := runCmd(t, nil, "policy", "check", bad); r.code != 2 || !strings.Contains(r.stderr, "bad.yaml:") {
		t.Errorf("policy check of a bad file: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCmd(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "pcapaudit ") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
	if r := runCmd(t, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Exit codes") {
		t.Errorf("--help does not document exit codes: %s", r.stdout)
	}
	if r := runCmd(t, nil, "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "pcapaudit") {
		t.Errorf("completion bash: exit %d", r.code)
	}
}

// The NDJSON report ends with a summary that carries what the log said: a script reading
// only the output learns that a file was cut short, and where.
func TestJSONSummaryCarriesWarnings(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, "testdata", "real", "ldap-simple-bind.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := writeFile(t, "cut.pcap", data[:len(data)-10])
	r := runCmd(t, nil, "-f", "json", cut)
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum struct {
		Event     struct{ Kind, Dataset string }
		PcapAudit struct {
			Summary struct {
				Files []struct {
					Path     string
					Packets  int
					Warnings []string
				}
				Flows    int
				Findings struct{ Critical, Medium int }
			}
		} `json:"pcapaudit"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	s := sum.PcapAudit.Summary
	if sum.Event.Dataset != "pcapaudit.summary" || len(s.Files) != 1 || s.Files[0].Path != cut || s.Files[0].Packets != 14 {
		t.Fatalf("summary: %+v", sum)
	}
	if len(s.Files[0].Warnings) != 1 || !strings.Contains(s.Files[0].Warnings[0], "truncated capture at byte") {
		t.Errorf("warnings %q, want the cut named", s.Files[0].Warnings)
	}
	if s.Flows != 1 || s.Findings.Critical != 1 || s.Findings.Medium != 1 {
		t.Errorf("flows %d, findings %+v", s.Flows, s.Findings)
	}
}

// A rule whose condition fails while running finds nothing; the user is told which rule,
// how often and why: on stderr, in the text report's header and in the NDJSON summary.
func TestPolicyErrorsAreReported(t *testing.T) {
	def := runCmd(t, nil, "policy").stdout
	// ldap.starttls is nil on a flow without StartTLS: the VM's error, and the compiled one.
	src := strings.Replace(def, "when: 'ldap.cleartext && !ldap.cldap && ldap.messages > 0'", "when: 'ldap.starttls.result == 0'", 1)
	src = strings.Replace(src, "when: 'ldap.spn_search'", "when: 'ldap.starttls?.result == 0 || ldap.binds[5].dn == \"x\"'", 1)
	if src == def || strings.Count(src, "ldap.starttls") < 2 {
		t.Fatal("the default policy's conditions changed: update the test")
	}
	pol := writeFile(t, "failing.yaml", []byte(src))
	capture := filepath.Join(repo, "testdata", "real", "ldap-simple-bind.pcap")

	r := runCmd(t, nil, "-p", pol, capture)
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"rule ldap.cleartext failed to evaluate 1 time(s), counted as no match: cannot read ldap.starttls.result: ldap.starttls is nil",
		"rule ldap.spn-search failed to evaluate 1 time(s)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the text report does not say %q:\n%s", want, r.stdout)
		}
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "ldap.cleartext  ") {
		t.Error("the failing rule raised a finding")
	}

	r = runCmd(t, nil, "-f", "json", "-p", pol, capture)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum struct {
		PcapAudit struct {
			Summary struct {
				PolicyErrors []struct {
					Rule  string
					Count int
					First string
				} `json:"policy_errors"`
			}
		} `json:"pcapaudit"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	pe := sum.PcapAudit.Summary.PolicyErrors
	if len(pe) != 2 || pe[0].Rule != "ldap.cleartext" || pe[0].Count != 1 || !strings.Contains(pe[0].First, "ldap.starttls is nil") ||
		pe[1].Rule != "ldap.spn-search" || pe[1].First == "" {
		t.Errorf("policy_errors %+v", pe)
	}
	documented := schemaFields(t)
	for _, k := range []string{"pcapaudit.summary.policy_errors[].rule", "pcapaudit.summary.policy_errors[].count", "pcapaudit.summary.policy_errors[].first"} {
		if !documented[k] {
			t.Errorf("%s is not documented in docs/schema.md", k)
		}
	}
	// With the default policy, nothing fails.
	if r := runCmd(t, nil, "-f", "json", capture); strings.Contains(r.stdout, "policy_errors") || strings.Contains(r.stderr, "failed to evaluate") {
		t.Errorf("the default policy reports evaluation errors: %s", r.stderr)
	}
}
