package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

var update = flag.Bool("update", false, "rewrite docs/schema.json from the document types")

const (
	repo       = "../../.."
	schemaFile = "docs/schema.json"
	fieldsFile = "docs/schema.md"
)

// The flow and finding documents are generated from refFlowDoc and refFindingDoc, the types
// ndjson_test.go proves the writer's bytes equal to, the summary from summaryDoc.

// constraints are what the types cannot say: fixed values and value sets, by document and
// field path, taken from the code where the code has them. "$drop" leaves fields of a shared
// type out of a document that never has them, "$require" requires fields the type marks
// omitempty but the writer always writes.
func constraints() map[string]map[string]map[string]any {
	var labels, reasons, sevNames []any
	for l := flow.Label(0); l < flow.NumLabels; l++ {
		labels = append(labels, l.String())
	}
	for e := flow.EndEOF; e <= flow.EndEvicted; e++ {
		reasons = append(reasons, e.String())
	}
	var scores []any
	for s := rules.Low; s <= rules.Critical; s++ {
		sevNames = append(sevNames, s.String())
		scores = append(scores, s.Score())
	}
	// Packet times as the writer formats them: RFC 3339, nine fraction digits, UTC.
	docTime := map[string]any{"type": "string", "format": "date-time", "pattern": `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`}
	ip := map[string]any{"type": "string", "anyOf": []any{map[string]any{"format": "ipv4"}, map[string]any{"format": "ipv6"}}}
	common := func(kind, dataset, typ string, event map[string]any) map[string]map[string]any {
		return map[string]map[string]any{
			"event":                    event,
			"@timestamp":               docTime,
			"event.start":              docTime,
			"event.end":                docTime,
			"event.kind":               {"const": kind},
			"event.dataset":            {"const": dataset},
			"event.module":             {"const": "pcapaudit"},
			"event.category":           {"const": []any{"network"}},
			"event.type":               {"const": []any{typ}},
			"event.duration":           {"minimum": 0},
			"source.ip":                ip,
			"destination.ip":           ip,
			"network.transport":        {"enum": []any{flow.TCP.String(), flow.UDP.String()}},
			"network.type":             {"enum": []any{"ipv4", "ipv6"}},
			"network.protocol":         {"enum": labels},
			"network.community_id":     {"pattern": `^1:[A-Za-z0-9+/]{27}=$`},
			"event.reason":             {"enum": reasons},
			"pcapaudit.end_reason":     {"enum": reasons},
			"event.severity":           {"enum": scores},
			"pcapaudit.severity":       {"enum": sevNames},
			"rule.category":            {"enum": labels},
			"pcapaudit.summary.policy": {"minLength": 1},
		}
	}
	finding := common("alert", "pcapaudit.finding", "info", map[string]any{"$drop": []string{"reason"}, "$require": []string{"severity"}})
	finding["rule"] = map[string]any{"$require": []string{"category"}}
	return map[string]map[string]map[string]any{
		"flow":    common("event", "pcapaudit.flow", "connection", map[string]any{"$drop": []string{"severity"}, "$require": []string{"reason"}}),
		"finding": finding,
		"summary": common("metric", "pcapaudit.summary", "info", map[string]any{"$drop": []string{"reason", "severity"}}),
	}
}

// fieldRef is one row of the field reference.
type fieldRef struct{ typ, meaning string }

// fieldReference reads the tables of docs/schema.md: field → type and meaning.
func fieldReference(t *testing.T) map[string]fieldRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, fieldsFile))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([a-z\\[\\]]+) \\| ?(.*?) ?\\|$")
	out := map[string]fieldRef{}
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = fieldRef{m[2], strings.ReplaceAll(strings.TrimSpace(m[3]), `\|`, "|")}
	}
	if len(out) < 100 {
		t.Fatalf("only %d fields in %s", len(out), fieldsFile)
	}
	return out
}

var (
	ownPkg        = reflect.TypeFor[JSON]().PkgPath()
	timeType      = reflect.TypeFor[time.Time]()
	flowTimeType  = reflect.TypeFor[flow.Time]() // written as the time.Time it stands for
	flowDateType  = reflect.TypeFor[flow.Date]() // the same
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

// schemaGen turns Go types into JSON Schema, the way encoding/json (and the facts encoder
// generated from the types, which writes the same bytes) marshals them, with each field's
// meaning from the field reference.
type schemaGen struct {
	t     *testing.T
	ref   map[string]fieldRef
	extra map[string]map[string]any // constraints of the document being generated
	seen  map[string]bool           // field reference rows used
}

// jsonType is the field reference's type of a JSON schema type, for the check that both agree.
var jsonType = map[string][]string{
	"string":  {"keyword", "text", "date", "ip"},
	"integer": {"long"},
	"number":  {"double"},
	"boolean": {"boolean"},
	"object":  {"object"},
}

func (g *schemaGen) schema(t reflect.Type, path string, nullable bool) map[string]any {
	var s map[string]any
	leaf := true
	switch {
	case t == timeType || t == flowTimeType || t == flowDateType:
		s = map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		return g.schema(t.Elem(), path, nullable)
	case t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType):
		g.t.Errorf("%s: %s has its own MarshalJSON: teach the schema generator what it writes", path, t)
		return map[string]any{}
	case t.Kind() == reflect.String:
		s = map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s = map[string]any{"type": "integer"}
		if t.Kind() >= reflect.Uint {
			s["minimum"] = 0
		}
		if bits := t.Bits(); bits < 64 {
			if t.Kind() >= reflect.Uint {
				s["maximum"] = uint64(1)<<bits - 1
			} else {
				s["minimum"], s["maximum"] = -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1
			}
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s = map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		items := g.schema(t.Elem(), path+"[]", false)
		s = map[string]any{"type": "array", "items": items}
		if t.Kind() == reflect.Array {
			s["minItems"], s["maxItems"] = t.Len(), t.Len()
		}
		leaf = false
		if ref, ok := g.ref[path]; ok {
			g.seen[path] = true
			if ref.meaning != "" {
				s["description"] = ref.meaning
			}
			if it, _ := items["type"].(string); it != "object" {
				g.check(path, ref, it, true)
			}
		}
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		s = map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), path+".*", false)}
		delete(s["additionalProperties"].(map[string]any), "description")
	case t.Kind() == reflect.Struct:
		s = g.object(t, path)
		leaf = false
	default:
		g.t.Errorf("%s: no JSON Schema for Go type %s", path, t)
		return map[string]any{}
	}
	// A leaf has its row in the field reference; the items of a list of scalars share the
	// list's row, and a map's values its own.
	if leaf && !strings.HasSuffix(path, ".*") && !strings.HasSuffix(path, "[]") {
		if ref, ok := g.ref[path]; !ok {
			g.t.Errorf("field %s is not in the field reference (%s): document it there", path, fieldsFile)
		} else {
			g.seen[path] = true
			g.check(path, ref, s["type"].(string), false)
			if ref.meaning != "" {
				s["description"] = ref.meaning
			}
		}
	}
	for k, v := range g.extra[path] {
		switch k {
		case "$drop":
			for _, f := range v.([]string) {
				delete(s["properties"].(map[string]any), f)
				req, _ := s["required"].([]string)
				s["required"] = slices.DeleteFunc(req, func(r string) bool { return r == f })
			}
		case "$require":
			req, _ := s["required"].([]string)
			req = append(req, v.([]string)...)
			slices.Sort(req)
			s["required"] = req
		default:
			s[k] = v
		}
	}
	if nullable {
		wrap := map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		if desc, ok := s["description"]; ok {
			wrap["description"] = desc
			delete(s, "description")
		}
		s = wrap
	}
	return s
}

// check reports a field whose type in the field reference is not what the code writes.
func (g *schemaGen) check(path string, ref fieldRef, typ string, list bool) {
	if ref.typ == "" {
		return
	}
	doc := strings.TrimSuffix(ref.typ, "[]")
	if list != strings.HasSuffix(ref.typ, "[]") || !slices.Contains(jsonType[typ], doc) {
		g.t.Errorf("field %s: the field reference says %s, the code writes a JSON %s%s", path, ref.typ, typ, map[bool]string{true: " list"}[list])
	}
}

// object is the schema of a struct: its fields as encoding/json sees them (embedded structs'
// fields promoted), closed to any other.
func (g *schemaGen) object(t reflect.Type, path string) map[string]any {
	props := map[string]any{}
	var required []string
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() && !f.Anonymous {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				add(f.Type)
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
				// A part of the facts behind a pointer (flow.NTPRare, ...): never nil in a
				// record (an empty part is a shared empty block), so its fields are written
				// as the outer struct's own.
				add(f.Type.Elem())
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
			// A nil slice, map or pointer that is not left out is written as null; the
			// documents' own types (this package's) never hold one.
			nullable := !optional && t.PkgPath() != ownPkg &&
				(f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Pointer || f.Type.Kind() == reflect.Map)
			props[name] = g.schema(f.Type, p, nullable)
			if !optional {
				required = append(required, name)
			}
		}
	}
	add(t)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		s["required"] = required
	}
	if ref, ok := g.ref[path]; ok && ref.meaning != "" {
		g.seen[path] = true
		s["description"] = ref.meaning
	}
	return s
}

// documentSchema is the schema of one kind of document.
func (g *schemaGen) documentSchema(kind string, doc any) map[string]any {
	g.extra = constraints()[kind]
	s := g.schema(reflect.TypeOf(doc), "", false)
	delete(s, "description")
	return s
}

// generateSchema returns docs/schema.json as it must be.
func generateSchema(t *testing.T) []byte {
	t.Helper()
	g := &schemaGen{t: t, ref: fieldReference(t), seen: map[string]bool{}}
	defs := map[string]map[string]any{
		"flow":    g.documentSchema("flow", refFlowDoc{}),
		"finding": g.documentSchema("finding", refFindingDoc{}),
		"summary": g.documentSchema("summary", summaryDoc{}),
	}
	// Every protocol fact of the record is in the flow document.
	rt, props := reflect.TypeFor[flow.Record](), defs["flow"]["properties"].(map[string]any)
	facts := 0
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			facts++
			if props[name] == nil {
				t.Errorf("flow.Record.%s (%s) is not in the flow document type refFlowDoc", rt.Field(i).Name, name)
			}
		}
	}
	if facts < 4 {
		t.Errorf("flow.Record has %d protocol facts with a json tag", facts)
	}
	defs["flow"]["description"] = "A flow: one per flow, in the order the flows ended (event.kind event)."
	defs["finding"]["description"] = "A finding, right after the flow it was raised on (event.kind alert)."
	defs["summary"]["description"] = "The summary of the run, the last document (event.kind metric)."
	for f := range g.ref {
		if !g.seen[f] && !strings.HasSuffix(f, "[]") {
			// A row no type has: a field the reference describes and no document carries.
			if _, isList := g.ref[f+"[]"]; !isList {
				t.Errorf("%s documents %s, which no document type has", fieldsFile, f)
			}
		}
	}
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/pcapaudit/pcapaudit/docs/schema.json",
		"title":       "pcapaudit NDJSON document",
		"description": "One line of pcapaudit --format json: a flow, a finding or the summary. Generated from the code by go test ./cmd/internal/report -run SchemaFile -update; the field reference is docs/schema.md.",
		"oneOf":       []any{map[string]any{"$ref": "#/$defs/flow"}, map[string]any{"$ref": "#/$defs/finding"}, map[string]any{"$ref": "#/$defs/summary"}},
		"$defs":       defs,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSchemaFile keeps docs/schema.json equal to what the document types, the facts types and
// the field reference make of it (-update rewrites it).
func TestSchemaFile(t *testing.T) {
	want := generateSchema(t)
	path := filepath.Join(repo, schemaFile)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run go test ./cmd/internal/report -run SchemaFile -update", schemaFile)
	}
}

// TestSchemaOfKnownFields spot-checks the generated schema against what the writer is known
// to write, so a generator that lost its way (everything optional, nothing closed) fails.
func TestSchemaOfKnownFields(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(generateSchema(t), &root); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var v any = root
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: no %s", path, p)
			}
			v = m[p]
		}
		return v
	}
	defs := []string{"$defs"}
	flowProps := append(defs, "flow", "properties")
	for _, c := range []struct {
		path []string
		want string
	}{
		{append(defs, "flow", "additionalProperties"), "false"},
		{append(flowProps, "ldap", "additionalProperties"), "false"},
		{append(flowProps, "source", "properties", "port", "maximum"), "65535"},
		{append(flowProps, "tls", "properties", "name_matches_sni", "type"), "boolean"},
		{append(defs, "finding", "properties", "pcapaudit", "properties", "observed", "additionalProperties", "type"), "string"},
		{append(defs, "summary", "properties", "event", "properties", "kind", "const"), "metric"},
	} {
		got := fmt.Sprint(get(c.path...))
		if c.want != "" && got != c.want {
			t.Errorf("%s = %s, want %s", strings.Join(c.path, "."), got, c.want)
		}
	}
	req := fmt.Sprint(get(append(defs, "finding", "required")...))
	for _, f := range []string{"@timestamp", "event", "rule", "message", "source", "destination", "network", "pcapaudit"} {
		if !strings.Contains(req, f) {
			t.Errorf("finding documents do not require %s: %s", f, req)
		}
	}
}
