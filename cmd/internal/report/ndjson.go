package report

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsonenc"
	"github.com/pcapaudit/pcapaudit/rules"
)

// JSON writes NDJSON: one ECS document per flow (event.kind "event") and one per finding
// (event.kind "alert"), each finding right after the flow it was raised on.
//
// The documents are written field by field into one reused line buffer, in the order the
// field reference (docs/schema.md) gives, with no reflection and no allocation; the protocol
// facts (the detectors' structs, marshalled as encoding/json would) by appendRecordFacts,
// generated from their types into facts_gen.go by go generate (internal/factsgen). What a
// flow and its findings share (times, endpoints, network, Community ID) is written once per
// flow and copied into each finding, and the rule part of a finding once per rule and label.
// Every string is escaped exactly as encoding/json escapes it (jsonenc.String). Only the
// summary and a sensor's observer part, once per run, go through encoding/json.
type JSON struct {
	w        *bufio.Writer
	enc      *json.Encoder // the summary, on w
	all      bool
	ruleset  string
	err      error
	findings [4]uint64 // by severity, Low first

	line   []byte               // the document being written
	start  []byte               // `"start":"…","end":"…","duration":N` of the current flow
	shared []byte               // `"source":{…},"destination":{…},"network":{…}` of the current flow
	tunnel []byte               // `,"tunnel":[…]` of the current flow, empty when it has none
	rules  map[ruleLabel][]byte // `"rule":{…}` by rule and flow label
	obs    []rules.KV           // a finding's observed values, sorted
	tmp    []byte
	facts  jsonenc.Encoder // of the protocol facts (facts_gen.go)

	observer []byte       // `"observer":{…},` of a live sensor, or nothing
	obsDoc   *observerDoc // the same, for the summary
}

// Observer names the sensor that saw the traffic (ECS observer.*). A live sensor sets it;
// the documents of a file audit carry none.
type Observer struct {
	Hostname  string // observer.hostname
	Interface string // observer.ingress.interface.name
	Version   string // observer.version
}

// observerDoc is the ECS observer object of a sensor's documents.
type observerDoc struct {
	Type     string          `json:"type"`
	Product  string          `json:"product"`
	Hostname string          `json:"hostname,omitempty"`
	Version  string          `json:"version,omitempty"`
	Ingress  *observerIngres `json:"ingress,omitempty"`
}

type observerIngres struct {
	Interface struct {
		Name string `json:"name"`
	} `json:"interface"`
}

func newObserverDoc(o Observer) *observerDoc {
	d := &observerDoc{Type: "sensor", Product: "pcapaudit", Hostname: o.Hostname, Version: o.Version}
	if o.Interface != "" {
		d.Ingress = &observerIngres{}
		d.Ingress.Interface.Name = o.Interface
	}
	return d
}

// SetObserver makes every document carry o as ECS observer fields.
func (j *JSON) SetObserver(o Observer) {
	j.obsDoc = newObserverDoc(o)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j.obsDoc); err != nil { // strings and a struct: the encoder does not fail on them
		panic(err)
	}
	j.observer = append(append([]byte(`"observer":`), bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...), ',')
}

// Flush writes what is buffered (a live sensor's output is not held back on a quiet link).
func (j *JSON) Flush() error {
	if j.err != nil {
		return j.err
	}
	j.err = j.w.Flush()
	return j.err
}

type ruleLabel struct {
	r *rules.Rule
	l flow.Label
}

// NewJSON writes to w. Unknown flows are written only when all is set.
func NewJSON(w io.Writer, all bool, ruleset string) *JSON {
	bw := bufio.NewWriterSize(w, 256<<10)
	j := &JSON{w: bw, enc: json.NewEncoder(bw), all: all, ruleset: ruleset, rules: map[ruleLabel][]byte{}}
	j.enc.SetEscapeHTML(false)
	return j
}

// Flow implements Reporter.
func (j *JSON) Flow(r *flow.Record, findings []*rules.Finding) {
	if j.err != nil || (r.Label == flow.Unknown && !j.all && len(findings) == 0) {
		return
	}
	j.flowShared(r)
	j.err = j.flowDoc(r)
	for _, f := range findings {
		if i := int(f.Rule.Severity) - int(rules.Low); i >= 0 && i < len(j.findings) {
			j.findings[i]++
		}
		if j.err == nil {
			j.err = j.findingDoc(r, f)
		}
	}
}

// flowShared writes what the documents of a flow and of its findings share.
func (j *JSON) flowShared(r *flow.Record) {
	b := j.start[:0]
	b = append(b, `"start":`...)
	b = appendTime(b, r.Start)
	b = append(b, `,"end":`...)
	b = appendTime(b, r.End)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(r.End.Sub(r.Start)), 10)
	j.start = b

	b = j.shared[:0]
	b = append(b, `"source":`...)
	b = j.endpoint(b, r, flow.FromClient)
	b = append(b, `,"destination":`...)
	b = j.endpoint(b, r, flow.FromServer)
	b = append(b, `,"network":{"transport":`...)
	b = j.appendString(b, r.Transport.String())
	if r.Client.Addr().Is4() {
		b = append(b, `,"type":"ipv4"`...)
	} else {
		b = append(b, `,"type":"ipv6"`...)
	}
	b = append(b, `,"protocol":`...)
	b = j.appendString(b, r.Label.String())
	b = append(b, `,"community_id":"`...)
	b = appendCommunityID(b, r.Client, r.Server, r.Transport)
	b = append(b, `","packets":`...)
	b = strconv.AppendUint(b, r.Packets[0]+r.Packets[1], 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendUint(b, r.Bytes[0]+r.Bytes[1], 10)
	if r.NVLAN > 0 {
		b = append(b, `,"vlan":{"id":"`...)
		b = strconv.AppendUint(b, uint64(r.VLAN[0]), 10)
		b = append(b, `"}`...)
	}
	if r.NVLAN > 1 {
		b = append(b, `,"inner":{"vlan":{"id":"`...)
		b = strconv.AppendUint(b, uint64(r.VLAN[1]), 10)
		b = append(b, `"}}`...)
	}
	j.shared = append(b, '}')
	j.tunnel = j.appendTunnel(j.tunnel[:0], r.TunnelLayers())
}

// appendTunnel writes `,"tunnel":[…]`, the tunnel layers outermost first, or nothing.
func (j *JSON) appendTunnel(b []byte, tun []flow.Tunnel) []byte {
	if len(tun) == 0 {
		return b
	}
	b = append(b, `,"tunnel":[`...)
	for i := range tun {
		t := &tun[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = j.appendString(b, t.Type)
		if t.Source.IsValid() {
			b = append(b, `,"source":"`...)
			b = t.Source.AppendTo(b)
			b = append(b, `","destination":"`...)
			b = t.Destination.AppendTo(b)
			b = append(b, '"')
		}
		if t.HasID {
			b = append(b, `,"id":`...)
			b = strconv.AppendUint(b, uint64(t.ID), 10)
		}
		if t.HasVLAN {
			b = append(b, `,"vlan":`...)
			b = strconv.AppendUint(b, uint64(t.VLAN), 10)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// endpoint writes the client (d FromClient) or the server of r.
func (j *JSON) endpoint(b []byte, r *flow.Record, d flow.Dir) []byte {
	ap := r.Client
	if d == flow.FromServer {
		ap = r.Server
	}
	j.tmp = ap.Addr().AppendTo(j.tmp[:0])
	b = append(b, `{"ip":`...)
	if plain(j.tmp) { // an address's text always is, but for a zone
		b = append(append(append(b, '"'), j.tmp...), '"')
	} else {
		b = j.appendString(b, string(j.tmp))
	}
	b = append(b, `,"port":`...)
	b = strconv.AppendUint(b, uint64(ap.Port()), 10)
	b = append(b, `,"packets":`...)
	b = strconv.AppendUint(b, r.Packets[d], 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendUint(b, r.Bytes[d], 10)
	return append(b, '}')
}

// flowDoc writes the document of a flow (after flowShared).
func (j *JSON) flowDoc(r *flow.Record) error {
	b := j.line[:0]
	b = append(b, `{"@timestamp":`...)
	b = appendTime(b, r.Start)
	b = append(b, `,"event":{"kind":"event","category":["network"],"type":["connection"],"module":"pcapaudit","dataset":"pcapaudit.flow",`...)
	b = append(b, j.start...)
	if reason := r.EndReason.String(); reason != "" && !r.Interim {
		b = append(b, `,"reason":`...)
		b = j.appendString(b, reason)
	}
	b = append(b, "},"...)
	b = append(b, j.observer...)
	b = append(b, j.shared...)
	b = appendRecordFacts(&j.facts, b, r)
	if err := j.facts.Err; err != nil {
		j.facts.Err = nil
		j.line = b[:0]
		return fmt.Errorf("report: the flow at frame %d of %s: %w", r.FirstFrame, r.File.String(), err)
	}
	b = append(b, `,"pcapaudit":{"file":`...)
	b = j.appendString(b, r.File.String())
	b = append(b, `,"frame":`...)
	b = strconv.AppendUint(b, r.FirstFrame, 10)
	b = append(b, j.tunnel...)
	if r.Interim {
		b = append(b, `,"interim":true`...)
		if r.FactsPending {
			b = append(b, `,"facts_pending":true`...)
		}
	} else {
		b = append(b, `,"end_reason":`...)
		b = j.appendString(b, r.EndReason.String())
	}
	b = append(b, `,"client_known":`...)
	b = strconv.AppendBool(b, r.ClientKnown)
	b = append(b, `,"payload_bytes":{"client":`...)
	b = strconv.AppendUint(b, r.Payload[0], 10)
	b = append(b, `,"server":`...)
	b = strconv.AppendUint(b, r.Payload[1], 10)
	b = append(b, '}')
	if r.ParseErrors != 0 {
		b = append(b, `,"parse_errors":`...)
		b = strconv.AppendUint(b, uint64(r.ParseErrors), 10)
	}
	if r.ParseError != 0 {
		b = append(b, `,"parse_error":`...)
		b = j.appendString(b, r.ParseError.String())
	}
	if r.Gaps != 0 {
		b = append(b, `,"gaps":`...)
		b = strconv.AppendUint(b, uint64(r.Gaps), 10)
	}
	if r.Cut {
		b = append(b, `,"cut":true`...)
	}
	b = append(b, "}}\n"...)
	j.line = b
	_, err := j.w.Write(b)
	return err
}

// findingDoc writes the document of a finding raised on r (after flowShared).
func (j *JSON) findingDoc(r *flow.Record, f *rules.Finding) error {
	b := j.line[:0]
	b = append(b, `{"@timestamp":`...)
	b = appendTime(b, f.Evidence.Time)
	b = append(b, `,"event":{"kind":"alert","category":["network"],"type":["info"],"module":"pcapaudit","dataset":"pcapaudit.finding",`...)
	b = append(b, j.start...)
	if sc := f.Rule.Severity.Score(); sc != 0 {
		b = append(b, `,"severity":`...)
		b = strconv.AppendInt(b, int64(sc), 10)
	}
	b = append(b, "},"...)
	b = append(b, j.observer...)
	b = append(b, j.rulePart(f.Rule, r.Label)...)
	b = append(b, `,"message":`...)
	b = j.appendString(b, f.Message)
	b = append(b, ',')
	b = append(b, j.shared...)
	b = append(b, `,"pcapaudit":{"file":`...)
	b = j.appendString(b, cmp.Or(f.Evidence.File.String(), r.File.String()))
	b = append(b, `,"frame":`...)
	b = strconv.AppendUint(b, f.Evidence.Frame, 10)
	b = append(b, `,"flow_frame":`...)
	b = strconv.AppendUint(b, r.FirstFrame, 10)
	if ef := f.Evidence.File; ef != 0 && ef != r.File {
		b = append(b, `,"flow_file":`...)
		b = j.appendString(b, r.File.String())
	}
	b = append(b, `,"display_filter":"`...)
	b = AppendDisplayFilter(b, r.Transport, r.Client, r.Server) // no character JSON escapes
	b = append(b, '"')
	b = append(b, j.tunnel...)
	b = append(b, `,"severity":`...)
	b = j.appendString(b, f.Rule.Severity.String())
	if f.Rule.Remedy != "" {
		b = append(b, `,"remedy":`...)
		b = j.appendString(b, f.Rule.Remedy)
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(f.Count), 10)
	if f.Suppressed > 0 {
		b = append(b, `,"suppressed":`...)
		b = strconv.AppendUint(b, f.Suppressed, 10)
	}
	if len(f.Observed) > 0 {
		// As a JSON object of the values by their expression, keys sorted; a key given twice
		// keeps its last value.
		j.obs = append(j.obs[:0], f.Observed...)
		slices.SortStableFunc(j.obs, func(a, b rules.KV) int { return strings.Compare(a.Key, b.Key) })
		b = append(b, `,"observed":{`...)
		for i, kv := range j.obs {
			if i+1 < len(j.obs) && j.obs[i+1].Key == kv.Key {
				continue
			}
			if b[len(b)-1] != '{' {
				b = append(b, ',')
			}
			b = j.appendString(b, kv.Key)
			b = append(b, ':')
			b = j.appendString(b, kv.Value)
		}
		b = append(b, '}')
	}
	b = append(b, "}}\n"...)
	j.line = b
	_, err := j.w.Write(b)
	return err
}

// rulePart returns `"rule":{…}` for a finding of rule r on a flow labelled l.
func (j *JSON) rulePart(r *rules.Rule, l flow.Label) []byte {
	k := ruleLabel{r, l}
	if p, ok := j.rules[k]; ok {
		return p
	}
	b := []byte(`"rule":{"id":`)
	b = j.appendString(b, r.ID)
	b = append(b, `,"name":`...)
	b = j.appendString(b, r.Name)
	b = append(b, `,"description":`...)
	b = j.appendString(b, r.Description)
	if c := l.String(); c != "" {
		b = append(b, `,"category":`...)
		b = j.appendString(b, c)
	}
	if ref := joinRefs(r.References); ref != "" {
		b = append(b, `,"reference":`...)
		b = j.appendString(b, ref)
	}
	b = append(b, `,"ruleset":`...)
	b = j.appendString(b, j.ruleset)
	b = append(b, '}')
	j.rules[k] = b
	return b
}

func joinRefs(refs []string) string {
	switch len(refs) {
	case 0:
		return ""
	case 1:
		return refs[0]
	}
	return strings.Join(refs, "; ")
}

// appendString appends s as a JSON string, escaped as encoding/json escapes it.
func (j *JSON) appendString(b []byte, s string) []byte { return jsonenc.String(b, s) }

// plain reports whether s is printable ASCII without a quote or a backslash: a JSON string
// as it is.
func plain[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendTime appends t as a JSON string in TimeFormat (RFC 3339, nine fraction digits, UTC),
// the bytes time.Time.AppendFormat writes, from the integer without going through a
// time.Time: it runs for two or three times of every document.
func appendTime(b []byte, t flow.Time) []byte {
	if t.IsZero() { // the zero time.Time, year 1: outside what the digits below cover
		b = append(b, '"')
		b = t.Time().AppendFormat(b, TimeFormat)
		return append(b, '"')
	}
	ns := t.UnixNano()
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	days, rem := sec/86400, sec%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	// The civil date of a day count since 1970-01-01 (H. Hinnant, "chrono-compatible
	// low-level date algorithms"). Every Time is within years 1677–2262: four digits.
	z := days + 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if mp >= 10 {
		month = mp - 9
	}
	year := yoe + era*400
	if month <= 2 {
		year++
	}
	var d [32]byte
	d[0] = '"'
	put := func(i int, v int64, n int) {
		for k := i + n - 1; k >= i; k-- {
			d[k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(1, year, 4)
	d[5] = '-'
	put(6, month, 2)
	d[8] = '-'
	put(9, day, 2)
	d[11] = 'T'
	put(12, rem/3600, 2)
	d[14] = ':'
	put(15, rem/60%60, 2)
	d[17] = ':'
	put(18, rem%60, 2)
	d[20] = '.'
	put(21, frac, 9)
	d[30], d[31] = 'Z', '"'
	return append(b, d[:]...)
}

//go:generate go run ./internal/factsgen -o facts_gen.go
