package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/internal/packetprog"
)

// outputSchema compiles docs/schema.json, asserting formats (date-time, ipv4, ipv6) too.
func outputSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "docs", "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("docs/schema.json: %v", err)
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatalf("docs/schema.json does not compile: %v", err)
	}
	return s
}

// validateNDJSON validates every line of an NDJSON output and counts the documents by
// event.kind.
func validateNDJSON(t *testing.T, s *jsonschema.Schema, name, out string, kinds map[string]int) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			t.Errorf("%s:%d: empty line", name, i+1)
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Errorf("%s:%d: not JSON: %v", name, i+1, err)
			continue
		}
		if err := s.Validate(doc); err != nil {
			t.Errorf("%s:%d: does not match docs/schema.json: %v", name, i+1, err)
			continue
		}
		ev, _ := doc.(map[string]any)["event"].(map[string]any)
		kind, _ := ev["kind"].(string)
		kinds[kind]++
	}
}

// TestOutputMatchesSchemaFile validates real output against docs/schema.json: every document
// of every golden NDJSON file, and the output of runs the goldens do not cover: every shipped
// capture in one run with --all (unknown flows, a summary of many files), a capture cut short
// and a file that cannot be read (the summary's warnings and error), a policy whose rules fail
// to evaluate (policy_errors), and captures of the public corpus when it is present.
func TestOutputMatchesSchemaFile(t *testing.T) {
	s := outputSchema(t)
	kinds := map[string]int{}
	goldens, _ := filepath.Glob(filepath.Join(repo, "testdata", "golden", "*.ndjson"))
	if len(goldens) < 10 {
		t.Fatalf("%d golden NDJSON files", len(goldens))
	}
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		validateNDJSON(t, s, filepath.Base(g), string(data), kinds)
	}

	good := filepath.Join(repo, "testdata", "real", "ldap-simple-bind.pcap")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := writeFile(t, "cut.pcap", data[:len(data)-30])
	// A conversation on port 7777 that is none of the five protocols: an unknown flow.
	prog := []byte{7, 2, 0, 0, 0, 0, 7 | 8, 18, 0, 0, 1, 0}
	for i := range 6 {
		prog = append(prog, byte(7|8*(i%2)), 24, 0, 0, 1, 16)
		prog = append(prog, "\x00\x01binary junk!!"...)
	}
	var pc bytes.Buffer
	if err := packetprog.WritePcap(&pc, packetprog.Build(prog)); err != nil {
		t.Fatal(err)
	}
	unknown := writeFile(t, "unknown.pcap", pc.Bytes())
	notCapture := writeFile(t, "notes.txt", []byte("not a capture\n"))
	args := append([]string{"-f", "json", "--all", "--fail-on", "none"}, captures(t)...)
	r := runCmd(t, nil, append(args, cut, notCapture, unknown)...)
	if !strings.Contains(r.stdout, `"warnings":[`) || !strings.Contains(r.stdout, `"error":`) || !strings.Contains(r.stdout, `"protocol":"unknown"`) {
		t.Errorf("the run lacks the unknown flows, the warning or the error it was made for:\n%s", r.stderr)
	}
	validateNDJSON(t, s, "all captures", r.stdout, kinds)

	def := runCmd(t, nil, "policy").stdout
	src := strings.Replace(def, "when: 'ldap.spn_search'", "when: 'ldap.starttls.result == 0'", 1)
	if src == def {
		t.Fatal("the default policy's ldap.spn-search condition changed: update the test")
	}
	r = runCmd(t, nil, "-f", "json", "--fail-on", "none", "-p", writeFile(t, "failing.yaml", []byte(src)), good)
	if !strings.Contains(r.stdout, `"policy_errors":[`) {
		t.Errorf("no policy_errors in the summary: %s", r.stderr)
	}
	validateNDJSON(t, s, "failing policy", r.stdout, kinds)

	if _, err := os.Stat(filepath.Join(corpustest.Root(t), "..", "shared", "corpus", "MANIFEST.tsv")); err == nil {
		var corpus []string
		dir := corpustest.Dir(t)
		for _, row := range corpustest.Manifest(t, dir) {
			if !strings.HasSuffix(row[0], ".out") {
				corpus = append(corpus, filepath.Join(dir, row[0]))
			}
		}
		r = runCmd(t, nil, append([]string{"-f", "json", "--all", "--fail-on", "none"}, corpus...)...)
		validateNDJSON(t, s, "corpus", r.stdout, kinds)
	}

	for _, k := range []string{"event", "alert", "metric"} {
		if kinds[k] == 0 {
			t.Errorf("no %q document was validated", k)
		}
	}
	t.Logf("documents validated by kind: %v", kinds)
}

// TestSchemaFileRejects: the schema is strict enough to catch what a writer could get wrong:
// an undocumented field at any depth, a field of the wrong type, a missing field, a value
// outside its set, a time in another format.
func TestSchemaFileRejects(t *testing.T) {
	s := outputSchema(t)
	r := runCmd(t, nil, "-f", "json", filepath.Join(repo, "testdata", "real", "ldap-simple-bind.pcap"))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var flowDoc, findingDoc, summaryDoc string
	for _, l := range lines {
		switch {
		case strings.Contains(l, `"kind":"event"`) && strings.Contains(l, `"binds":[`):
			flowDoc = l
		case strings.Contains(l, `"kind":"alert"`) && findingDoc == "":
			findingDoc = l
		case strings.Contains(l, `"kind":"metric"`):
			summaryDoc = l
		}
	}
	if flowDoc == "" || findingDoc == "" || summaryDoc == "" {
		t.Fatalf("ldap-simple-bind.pcap lacks an LDAP flow with binds, a finding or the summary:\n%s", r.stdout)
	}
	for _, c := range []struct {
		name, doc string
		edit      func(m map[string]any)
	}{
		{"an unknown top-level field", flowDoc, func(m map[string]any) { m["extra"] = 1 }},
		{"an unknown ECS field", flowDoc, func(m map[string]any) { obj(m, "source")["mac"] = "00:00:5e:00:53:01" }},
		{"an unknown protocol fact", flowDoc, func(m map[string]any) { obj(m, "ldap")["password"] = "secret" }},
		{"an unknown field in a list of facts", flowDoc, func(m map[string]any) {
			obj(m, "ldap")["binds"].([]any)[0].(map[string]any)["pasword_len"] = 3
		}},
		{"a fact of the wrong type", flowDoc, func(m map[string]any) {
			obj(m, "ldap")["binds"].([]any)[0].(map[string]any)["password_len"] = "8"
		}},
		{"a port as a string", flowDoc, func(m map[string]any) { obj(m, "destination")["port"] = "389" }},
		{"a port out of range", flowDoc, func(m map[string]any) { obj(m, "destination")["port"] = 70000 }},
		{"a negative count", flowDoc, func(m map[string]any) { obj(m, "network")["packets"] = -1 }},
		{"an unknown label", flowDoc, func(m map[string]any) { obj(m, "network")["protocol"] = "ldapx" }},
		{"a missing required field", flowDoc, func(m map[string]any) { delete(obj(m, "pcapaudit"), "frame") }},
		{"a time without nanoseconds", flowDoc, func(m map[string]any) { m["@timestamp"] = "2026-01-01T00:00:00Z" }},
		{"an address that is not one", flowDoc, func(m map[string]any) { obj(m, "source")["ip"] = "localhost" }},
		{"a flow with a finding's field", flowDoc, func(m map[string]any) { m["rule"] = map[string]any{"id": "x"} }},
		{"a flow with a finding's severity", flowDoc, func(m map[string]any) { obj(m, "event")["severity"] = 99 }},
		{"a finding without its rule's category", findingDoc, func(m map[string]any) { delete(obj(m, "rule"), "category") }},
		{"a finding with an unknown severity", findingDoc, func(m map[string]any) { obj(m, "event")["severity"] = 50 }},
		{"a finding's observed value not a string", findingDoc, func(m map[string]any) { obj(m, "pcapaudit")["observed"] = map[string]any{"x": 1} }},
		{"an unknown summary counter", summaryDoc, func(m map[string]any) {
			obj(obj(m, "pcapaudit"), "summary")["bounds"].(map[string]any)["dropped"] = 1
		}},
		{"a summary of another kind", summaryDoc, func(m map[string]any) { obj(m, "event")["kind"] = "event" }},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(c.doc), &m); err != nil {
			t.Fatal(err)
		}
		// The unedited document is valid: the edit is what the schema must catch.
		if err := s.Validate(roundTrip(t, m)); err != nil {
			t.Fatalf("%s: the unedited document does not validate: %v", c.name, err)
		}
		c.edit(m)
		if err := s.Validate(roundTrip(t, m)); err == nil {
			t.Errorf("%s: docs/schema.json accepts it", c.name)
		}
	}
}

func obj(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }

// roundTrip turns a decoded document into what the validator reads (numbers as json.Number).
func roundTrip(t *testing.T, m map[string]any) any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
