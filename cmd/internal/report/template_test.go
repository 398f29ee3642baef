package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// templateFile is the Elasticsearch index template for the NDJSON documents, kept in the
// repository for the sensor's shippers (docs/sensor.md) and generated from docs/schema.json.
var templateFile = filepath.Join(repo, "docs", "deploy", "elasticsearch-index-template.json")

// mapping turns one JSON Schema node into an Elasticsearch mapping: dates, IP addresses,
// longs, doubles, booleans and keywords; objects by their properties; an open object (the
// observed values of a finding, keyed by expression) as one flattened field.
func mapping(t *testing.T, path string, n map[string]any) map[string]any {
	if props, ok := n["properties"].(map[string]any); ok {
		out := map[string]any{}
		for k, v := range props {
			out[k] = mapping(t, path+"."+k, v.(map[string]any))
		}
		return map[string]any{"properties": out}
	}
	if alts, ok := n["anyOf"].([]any); ok {
		isIP := len(alts) > 0
		for _, a := range alts {
			f, _ := a.(map[string]any)["format"].(string)
			isIP = isIP && (f == "ipv4" || f == "ipv6")
		}
		if isIP {
			return map[string]any{"type": "ip"}
		}
		for _, a := range alts { // a nullable value: its type
			if ty, _ := a.(map[string]any)["type"].(string); ty != "" && ty != "null" {
				return mapping(t, path, a.(map[string]any))
			}
		}
	}
	typ, _ := n["type"].(string)
	switch typ {
	case "array":
		return mapping(t, path, n["items"].(map[string]any))
	case "object":
		return map[string]any{"type": "flattened"}
	case "integer":
		return map[string]any{"type": "long"}
	case "number":
		return map[string]any{"type": "double"}
	case "boolean":
		return map[string]any{"type": "boolean"}
	case "string":
		if n["format"] == "date-time" {
			return map[string]any{"type": "date_nanos"}
		}
		if strings.HasSuffix(path, ".message") || strings.HasSuffix(path, ".description") || strings.HasSuffix(path, ".remedy") {
			return map[string]any{"type": "text"}
		}
		return map[string]any{"type": "keyword", "ignore_above": 1024}
	}
	t.Fatalf("%s: no mapping for %v", path, n)
	return nil
}

// merge adds b's properties to a; a field both have must map the same way.
func merge(t *testing.T, path string, a, b map[string]any) {
	ap, aok := a["properties"].(map[string]any)
	bp, bok := b["properties"].(map[string]any)
	if aok != bok {
		t.Fatalf("%s: an object in one document, a value in another", path)
	}
	if !aok {
		if a["type"] != b["type"] {
			t.Fatalf("%s: %v in one document, %v in another", path, a["type"], b["type"])
		}
		return
	}
	for k, v := range bp {
		if av, ok := ap[k]; ok {
			merge(t, path+"."+k, av.(map[string]any), v.(map[string]any))
		} else {
			ap[k] = v
		}
	}
}

// TestIndexTemplate: docs/deploy/elasticsearch-index-template.json maps every field of the
// flow, finding and summary documents as docs/schema.json describes it (-update rewrites it).
func TestIndexTemplate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, schemaFile))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	names := make([]string, 0, len(defs))
	for k := range defs {
		names = append(names, k)
	}
	slices.Sort(names)
	var all map[string]any
	for _, k := range names {
		m := mapping(t, k, defs[k].(map[string]any))
		if all == nil {
			all = m
		} else {
			merge(t, k, all, m)
		}
	}
	all["dynamic"] = false // a field the schema does not know is kept in _source, not mapped
	tmpl := map[string]any{
		"index_patterns": []string{"pcapaudit-*"},
		"priority":       200,
		"_meta":          map[string]any{"description": "pcapaudit NDJSON (flows, findings, summaries); generated from docs/schema.json"},
		"template": map[string]any{
			"settings": map[string]any{"index": map[string]any{"mapping": map[string]any{"total_fields": map[string]any{"limit": 4000}}}},
			"mappings": all,
		},
	}
	want, _ := json.MarshalIndent(tmpl, "", "  ")
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(templateFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(templateFile)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run go test ./cmd/internal/report -run IndexTemplate -update", templateFile)
	}
	// Spot checks that a person would look for.
	props := all["properties"].(map[string]any)
	get := func(path ...string) string {
		m := props
		for _, p := range path[:len(path)-1] {
			m = m[p].(map[string]any)["properties"].(map[string]any)
		}
		ty, _ := m[path[len(path)-1]].(map[string]any)["type"].(string)
		return ty
	}
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{"@timestamp"}, "date_nanos"},
		{[]string{"source", "ip"}, "ip"},
		{[]string{"destination", "port"}, "long"},
		{[]string{"network", "community_id"}, "keyword"},
		{[]string{"message"}, "text"},
		{[]string{"pcapaudit", "observed"}, "flattened"},
		{[]string{"observer", "hostname"}, "keyword"},
		{[]string{"ldap", "cleartext_password"}, "boolean"},
	} {
		if got := get(c.path...); got != c.want {
			t.Errorf("%s maps to %q, want %q", strings.Join(c.path, "."), got, c.want)
		}
	}
}
