// Package detectortest drives one detector on one flow the way the classify engine does, so
// that a detector's unit tests exercise the same contract the engine holds it to: per
// direction, bytes not consumed are presented again in front of the next ones (TCP); before
// the claim, a rejection drops the bytes and More keeps the whole undecided prefix; a detector
// may not touch the flow before it claims it; a Reverse request at the claim swaps client and
// server.
//
// It exists for tests only: no package may import it from a non-test file.
package detectortest

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/rules"
)

// T0 is the time of a driver's packets when no frame is set: T0 plus the frame number in
// milliseconds.
var T0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Driver feeds one flow to one detector.
type Driver struct {
	T testing.TB
	D flow.Detector
	F *flow.Flow
	// Hard makes a rejection before the claim final, as for a TCP flow whose SYN was seen.
	Hard bool
	// Frame, when set, is the frame number of the next packet (corpus captures, which set
	// F.Time themselves); otherwise frames count from 1.
	Frame uint64

	Pend    [2][]byte // bytes kept per direction, as the engine keeps them
	Swapped bool      // the detector reversed the flow
	Stopped bool      // inspection ended (Done or Reject after the claim, or a hard reject)
	Last    flow.Verdict
}

// New returns a driver of d on a flow of transport tr from 192.0.2.10:50000 to
// 192.0.2.1:serverPort.
func New(t testing.TB, d flow.Detector, tr flow.Transport, serverPort uint16) *Driver {
	f := flow.New()
	f.Transport = tr
	f.Client = netip.MustParseAddrPort("192.0.2.10:50000")
	f.Server = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), serverPort)
	return &Driver{T: t, D: d, F: f}
}

// Send delivers data sent by the client (fromServer false) or the server, as one packet, and
// returns the detector's verdict (the last one, once inspection stopped).
func (s *Driver) Send(fromServer bool, data []byte) flow.Verdict {
	s.T.Helper()
	if s.Stopped {
		return s.Last
	}
	if s.Frame != 0 {
		s.F.Frame = s.Frame
	} else {
		s.F.Frame++
		s.F.Time = flow.TimeOf(T0.Add(time.Duration(s.F.Frame) * time.Millisecond))
	}
	dir := flow.FromClient
	if fromServer != s.Swapped {
		dir = flow.FromServer
	}
	stream := s.F.Transport == flow.TCP
	buf := data
	if stream {
		buf = append(append([]byte(nil), s.Pend[dir]...), data...)
	}
	claimed := s.F.Label != flow.Unknown
	v, n := s.D.Inspect(s.F, dir, buf)
	s.Last = v
	if !claimed && s.F.Label == flow.Unknown {
		if s.F.State != nil || s.F.NTP != nil || s.F.SIP != nil || s.F.LDAP != nil || s.F.TLS != nil {
			s.T.Fatalf("detector changed the flow without claiming it")
		}
		s.F.TakeReverse()
		if v == flow.Reject && s.Hard {
			s.Stopped = true
		}
		if v == flow.More && stream {
			s.Pend[dir] = buf
		} else {
			s.Pend[dir] = nil
		}
		return v
	}
	if !claimed && s.F.TakeReverse() && !s.F.ClientKnown {
		s.Swapped = !s.Swapped
		s.F.Client, s.F.Server = s.F.Server, s.F.Client
		s.Pend[0], s.Pend[1] = s.Pend[1], s.Pend[0]
		dir = 1 - dir
	}
	if v != flow.More {
		s.Stopped = true
		return v
	}
	if stream {
		if n < 0 || n > len(buf) {
			s.T.Fatalf("Inspect consumed %d of %d bytes", n, len(buf))
		}
		s.Pend[dir] = append([]byte(nil), buf[n:]...)
	}
	return v
}

// Client sends each of data from the client and returns the last verdict.
func (s *Driver) Client(data ...[]byte) flow.Verdict {
	s.T.Helper()
	var v flow.Verdict
	for _, d := range data {
		v = s.Send(false, d)
	}
	return v
}

// Server sends each of data from the server and returns the last verdict.
func (s *Driver) Server(data ...[]byte) flow.Verdict {
	s.T.Helper()
	var v flow.Verdict
	for _, d := range data {
		v = s.Send(true, d)
	}
	return v
}

// Claimed runs d over every flow of the capture at path (one driver per flow, as the engine
// would present its payloads; see corpustest.Flows) and returns the flows d claimed as label,
// in the order they started.
func Claimed(t testing.TB, path string, d flow.Detector, label flow.Label) []*flow.Flow {
	t.Helper()
	drivers, err := corpustest.Flows(t, path, func(client, server netip.AddrPort, tr flow.Transport, syn bool) (*Driver, corpustest.Sink) {
		s := New(t, d, tr, server.Port())
		s.F.Client, s.F.Server, s.F.ClientKnown, s.Hard = client, server, syn, syn
		return s, func(fromClient bool, frame uint64, ts time.Time, payload []byte) {
			s.Frame, s.F.Time = frame, flow.TimeOf(ts)
			s.Send(!fromClient, payload)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*flow.Flow
	for _, s := range drivers {
		if s.F.Label == label {
			out = append(out, s.F)
		}
	}
	return out
}

// Findings runs the default policy over the record of one flow and returns the ids of the
// rules it raised, sorted: what a user would see for that flow alone.
func Findings(t testing.TB, r *flow.Record) []string {
	t.Helper()
	var ids []string
	c := rules.Default().NewChecker()
	c.Check(r, func(f *rules.Finding) { ids = append(ids, f.Rule.ID) })
	c.Flush(func(f *rules.Finding) { ids = append(ids, f.Rule.ID) })
	if st := c.Stats(); len(st.EvalErrors) > 0 {
		t.Errorf("the policy failed on the record: %v", st.FirstEvalError)
	}
	slices.Sort(ids)
	return ids
}

// NoSecrets marshals facts as the NDJSON writer would and fails the test for each secret
// that appears in them. It returns the JSON, for further checks or a verbose log.
func NoSecrets(t testing.TB, facts any, secrets ...string) []byte {
	t.Helper()
	out, err := json.Marshal(facts)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if bytes.Contains(out, []byte(sec)) {
			t.Errorf("facts hold the secret %q: %s", sec, out)
		}
	}
	return out
}
