package sip

import (
	"bytes"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/sip/sdp"
)

// message records one complete message: its start line sl and its header block h (the bytes
// between the start line and the end of the blank line). It prepares st.msg for the body.
func (st *state) message(h []byte, sl *startLine) {
	var ss factStrings // the string facts this message sets, made into one string at its end
	st.begin(sl, &ss)
	st.headers(h, &ss)
	ss.make()
	st.failHeaders()
}

// begin starts a message with start line sl: the counts, the first request's method and URI.
func (st *state) begin(sl *startLine, ss *factStrings) {
	f := st.f
	s := f.SIP
	st.msg = message{request: sl.request, code: uint16(sl.code), method: sl.method, methodB: sl.methodB}
	s.Messages++
	if sl.request {
		s.Requests++
		countMethod(&s.Methods, sl.method)
		if s.Method == "" {
			if sl.method < methodOther {
				s.Method = methodNames[sl.method]
			} else {
				ss.setOnce(&s.Method, sl.methodB, maxMethod)
			}
			ss.setURI(&s.RequestURI, sl.uri)
		}
	} else {
		s.Responses++
		countStatus(s, uint16(sl.code))
	}
	if f.Transport == flow.UDP {
		st.exchange(sl)
	}
}

// failHeaders counts the header parse error of the message, if any. It is counted after the
// framing errors, as it is found after them.
func (st *state) failHeaders() {
	if st.msg.failErr != nil {
		st.f.Fail(st.msg.failErr)
	}
}

// exchange tells the engine whether the flow's SIP transaction is complete
// (flow.Flow.Answered): an OPTIONS or REGISTER answered by a final response, on a flow that
// carried no other request (a dialog's INVITE, BYE, SUBSCRIBE... keep the UDP idle timeout).
func (st *state) exchange(sl *startLine) {
	f := st.f
	switch {
	case sl.request && (sl.method == methodOptions || sl.method == methodRegister):
		st.txOpen = true
		f.Asked()
	case sl.request:
		st.dialog = true
		f.Asked()
	case sl.code >= 200 && st.txOpen && !st.dialog:
		st.txOpen = false
		f.Answered()
	}
}

// headers dispatches every header field of the block h, joining folded lines.
func (st *state) headers(h []byte, ss *factStrings) {
	start := -1 // start of the current field
	end := 0    // end of the current field (its last line, without CR LF)
	pos := 0
	for pos < len(h) {
		lf := bytes.IndexByte(h[pos:], '\n')
		next := len(h)
		if lf >= 0 {
			next = pos + lf + 1
		}
		line := trimCR(h[pos:min(next, len(h))])
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = trimCR(line[:len(line)-1])
		}
		if len(line) == 0 {
			pos = next
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if start >= 0 { // a folded continuation of the current field
				end = pos + len(line)
			}
			pos = next
			continue
		}
		if start >= 0 && !st.field(h[start:end], ss) {
			return
		}
		start, end = pos, pos+len(line)
		pos = next
	}
	if start >= 0 {
		st.field(h[start:end], ss)
	}
}

// headersUDP reads the header block of the datagram message b, whose start line ends at
// start, in one pass: it ends at the first blank line or with the datagram, its fields are
// dispatched as headers does and its Content-Length is read as frame does. It returns the end
// of the block and the Content-Length (-1 when absent; bad when unreadable).
func (st *state) headersUDP(b []byte, start int, ss *factStrings) (end int, cl int64, bad bool) {
	cl = -1
	fs, fe := -1, 0 // the current field
	reading := true
	for pos := start; ; {
		rest := b[pos:]
		lf := bytes.IndexByte(rest, '\n')
		line, next := rest, len(b)
		if lf >= 0 {
			line, next = rest[:lf], pos+lf+1
		}
		line = trimCR(line)
		if len(line) == 0 {
			end = next
			break
		}
		if c := lower(line[0]); (c == 'c' || c == 'l') && cl < 0 {
			name, val, ok := cut(line, ':')
			if name = trimWS(name); ok && (eqFold(name, "content-length") || eqFold(name, "l")) {
				cl, bad = parseLength(trimWS(val))
			}
		}
		if line[0] == ' ' || line[0] == '\t' {
			if fs >= 0 { // a folded continuation of the current field
				fe = pos + len(line)
			}
		} else {
			if fs >= 0 && reading {
				reading = st.field(b[fs:fe], ss)
			}
			fs, fe = pos, pos+len(line)
		}
		if lf < 0 {
			end = len(b)
			break
		}
		pos = next
	}
	if fs >= 0 && reading {
		st.field(b[fs:fe], ss)
	}
	return end, cl, bad
}

// field reads one header field. It returns false when no more fields should be read.
func (st *state) field(line []byte, ss *factStrings) bool {
	f := st.f
	st.msg.headers++
	if st.msg.headers > maxHeaders {
		if !st.msg.failed {
			st.msg.failed, st.msg.failErr = true, ErrTooManyHeaders
		}
		return false
	}
	name, v, ok := bytes.Cut(line, []byte{':'})
	name = trimWS(name)
	if !ok || len(name) == 0 {
		if !st.msg.failed {
			st.msg.failed, st.msg.failErr = true, ErrMalformedHeader
		}
		return true
	}
	v = trimWS(v)
	s := f.SIP
	if len(name) == 1 {
		switch lower(name[0]) {
		case 'v':
			st.via(v, ss)
		case 'f':
			ss.setURIOnce(&s.From, v)
		case 't':
			ss.setURIOnce(&s.To, v)
		case 'i':
			st.callID(v, ss)
		case 'c':
			st.contentType(v)
		case 'm':
			ss.setURIOnce(&s.Contact, v)
		case 'e':
			st.contentEncoding(v)
		}
		return true
	}
	switch lower(name[0]) {
	case 'v':
		if eqFold(name, "via") {
			st.via(v, ss)
		}
	case 'f':
		if eqFold(name, "from") {
			ss.setURIOnce(&s.From, v)
		}
	case 't':
		if eqFold(name, "to") {
			ss.setURIOnce(&s.To, v)
		}
	case 'c':
		switch {
		case eqFold(name, "call-id"):
			st.callID(v, ss)
		case eqFold(name, "cseq"):
			ss.setOnce(&s.CSeq, v, maxShort)
		case eqFold(name, "contact"):
			ss.setURIOnce(&s.Contact, v)
		case eqFold(name, "content-type"):
			st.contentType(v)
		case eqFold(name, "content-encoding"):
			st.contentEncoding(v)
		}
	case 'u':
		if eqFold(name, "user-agent") {
			ss.setOnce(&s.UserAgent, v, maxValue)
			if !s.Scanner {
				if name := scannerName(v); name != "" {
					p := s.ScannerPart()
					p.Scanner, p.ScannerName = true, name
				}
			}
		}
	case 's':
		if eqFold(name, "server") {
			ss.setOnce(&s.Server, v, maxValue)
		}
	case 'a':
		if eqFold(name, "authorization") {
			st.credentials("authorization", v)
		}
	case 'p':
		switch {
		case eqFold(name, "proxy-authorization"):
			st.credentials("proxy-authorization", v)
		case eqFold(name, "proxy-authenticate"):
			st.challenge("proxy-authenticate", v)
		}
	case 'w':
		if eqFold(name, "www-authenticate") {
			st.challenge("www-authenticate", v)
		}
	}
	return true
}

func countMethod(m *flow.SIPMethods, i int) {
	common := [...]*uint32{&m.Invite, &m.Ack, &m.Bye, &m.Cancel, &m.Options, &m.Register}
	if i >= 0 && i < len(common) {
		*common[i]++
		return
	}
	r := m.Rare()
	rare := [...]*uint32{&r.Prack, &r.Subscribe, &r.Notify, &r.Publish, &r.Info, &r.Refer, &r.Message, &r.Update}
	if i -= len(common); i >= 0 && i < len(rare) {
		*rare[i]++
		return
	}
	r.Other++
}

func countStatus(s *flow.SIPFacts, code uint16) {
	switch code / 100 {
	case 1:
		s.Status.Provisional++
	case 2:
		s.Status.Success++
	case 3:
		s.Status.Redirection++
	case 4:
		s.Status.ClientError++
	case 5:
		s.Status.ServerError++
	case 6:
		s.Status.GlobalFailure++
	}
	s.CountCode(code, maxCodes)
}

// callID keeps the first Call-ID and counts the changes from one message to the next.
func (st *state) callID(v []byte, ss *factStrings) {
	s := st.f.SIP
	ss.setOnce(&s.CallID, v, maxValue)
	sum := uint64(14695981039346656037) // FNV-1a
	for _, c := range v {
		sum ^= uint64(c)
		sum *= 1099511628211
	}
	if !st.haveCallID || sum != st.callHash {
		s.CallIDs++
	}
	st.callHash, st.haveCallID = sum, true
}

// Via transports, as stored in the facts.
var transports = flow.SIPViaTransports

// via reads every via-parm of a Via header: `SIP / 2.0 / transport sent-by *(; param)`.
func (st *state) via(v []byte, ss *factStrings) {
	s := st.f.SIP
	for len(v) > 0 {
		var elem []byte
		elem, v, _ = cut(v, ',')
		_, rest, ok := bytes.Cut(elem, []byte{'/'})
		if !ok {
			continue
		}
		if _, rest, ok = bytes.Cut(rest, []byte{'/'}); !ok {
			continue
		}
		tr, rest := token(trimLeftWS(rest), ";")
		st.transport(tr)
		// sent-by, then the parameters.
		_, ps, _ := cut(rest, ';')
		if s.ViaReceived != "" {
			continue
		}
		p := params{b: ps, sep: ';'}
		for {
			name, val, ok := p.next()
			if !ok {
				break
			}
			if eqFold(name, "received") {
				ss.setOnce(&s.ViaReceived, val, maxShort)
				break
			}
		}
	}
}

func (st *state) transport(tr []byte) {
	s := st.f.SIP
	name := "OTHER"
	for _, t := range transports {
		if eqFoldUpper(tr, t) {
			name = t
			break
		}
	}
	s.AddViaTransport(name, len(transports)+1)
}

// eqFoldUpper reports whether b equals the upper-case ASCII string s, ignoring case.
func eqFoldUpper(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// contentType notes an SDP or multipart body.
func (st *state) contentType(v []byte) {
	mt, ps, _ := cut(v, ';')
	mt = trimWS(mt)
	switch {
	case eqFold(mt, "application/sdp"):
		st.msg.kind = bodySDP
	case hasPrefixFold(mt, "multipart/"):
		p := params{b: ps, sep: ';'}
		for {
			name, val, ok := p.next()
			if !ok {
				break
			}
			if eqFold(name, "boundary") && len(val) > 0 && len(val) <= 70 {
				st.msg.kind, st.msg.boundary = bodyMultipart, val
				break
			}
		}
	}
}

func (st *state) contentEncoding(v []byte) {
	if len(v) > 0 && !eqFold(v, "identity") {
		st.msg.encoded = true
	}
}

// wholeBody reads a complete body.
func (ds *dirState) wholeBody(b []byte) {
	st := ds.st
	if len(b) == 0 || st.msg.kind == bodyNone {
		return
	}
	if st.msg.encoded {
		st.f.SIP.MediaPart().EncodedBodies++
		return
	}
	switch st.msg.kind {
	case bodySDP:
		ds.resp = !st.msg.request
		ds.parser().Reset(ds)
		ds.sdp.Write(b)
		ds.endSDP()
	case bodyMultipart:
		ds.resp = !st.msg.request
		ds.multipart(b, st.msg.boundary)
	}
}

// startBody begins a large TCP body of n bytes, read piecewise.
func (ds *dirState) startBody(n uint64) {
	st := ds.st
	ds.bodyLeft, ds.bodyKind, ds.resp = n, bodyNone, !st.msg.request
	if n == 0 {
		return
	}
	switch {
	case st.msg.kind == bodyNone:
	case st.msg.encoded:
		st.f.SIP.MediaPart().EncodedBodies++
	case st.msg.kind == bodySDP:
		ds.bodyKind = bodySDP
		ds.parser().Reset(ds)
	}
}

// endBody ends a large body.
func (ds *dirState) endBody() {
	if ds.bodyKind == bodySDP {
		ds.endSDP()
	}
	ds.bodyKind = bodyNone
}

func (ds *dirState) endSDP() {
	st := ds.st
	ds.sdp.Close()
	s := st.f.SIP.MediaPart()
	s.SDPBodies++
	if ds.sdp.SessionCrypto > 0 || ds.sdp.SessionKey {
		st.sdes()
	}
}

// multipart reads the SDP parts of a multipart body (RFC 2046 §5.1; one level, no nesting).
func (ds *dirState) multipart(b, boundary []byte) {
	for {
		i := bytes.Index(b, boundary)
		if i < 2 || b[i-1] != '-' || b[i-2] != '-' {
			if i < 0 {
				return
			}
			b = b[i+len(boundary):]
			continue
		}
		b = b[i+len(boundary):]
		if len(b) >= 2 && b[0] == '-' && b[1] == '-' {
			return // the close delimiter
		}
		// The rest of the delimiter line, then the part's headers up to a blank line.
		lf := bytes.IndexByte(b, '\n')
		if lf < 0 {
			return
		}
		b = b[lf+1:]
		isSDP := false
		for {
			lf = bytes.IndexByte(b, '\n')
			if lf < 0 {
				return
			}
			line := trimCR(b[:lf])
			b = b[lf+1:]
			if len(line) == 0 {
				break
			}
			name, v, ok := bytes.Cut(line, []byte{':'})
			if name = trimWS(name); ok && (eqFold(name, "content-type") || eqFold(name, "c")) {
				mt, _, _ := cut(trimWS(v), ';')
				isSDP = eqFold(trimWS(mt), "application/sdp")
			}
		}
		// The part ends at CR LF "--" boundary.
		end := len(b)
		if j := bytes.Index(b, boundary); j >= 2 {
			end = j - 2
			if end > 0 && b[end-1] == '\n' {
				end--
				if end > 0 && b[end-1] == '\r' {
					end--
				}
			}
		}
		if isSDP {
			ds.parser().Reset(ds)
			ds.sdp.Write(b[:end])
			ds.endSDP()
		}
		b = b[end:]
	}
}

// Media implements sdp.Handler: one media description of the SDP being read.
func (ds *dirState) Media(m *sdp.Media) { ds.st.media(m, ds.resp) }

// media records one media description; resp tells whether a response carried it.
func (st *state) media(m *sdp.Media, resp bool) {
	f := st.f
	s := f.SIP.MediaPart()
	s.MediaCount++
	proto := m.Proto.Bytes()
	secure := containsFold(proto, "savp")
	unencrypted := (eqFold(proto, "rtp/avp") || eqFold(proto, "rtp/avpf")) && m.Port != 0 && m.Crypto == 0
	dtls := m.Fingerprint.Len() > 0 || hasPrefixFold(proto, "udp/tls/") || hasPrefixFold(proto, "tcp/tls/")
	if secure {
		s.SRTP = true
	}
	if dtls {
		s.DTLSSRTP = true
	}
	if m.Crypto > 0 || m.Key {
		st.sdes()
	}
	if unencrypted && !s.UnencryptedMedia {
		s.UnencryptedMedia, s.UnencryptedMediaAt = true, f.Now()
	}
	for i := 0; i < m.NSuites; i++ {
		st.suite(m.Suites[i].Bytes())
	}
	if len(s.Media) >= maxMedia {
		return
	}
	fm := flow.SIPMedia{
		Event:       f.Now(),
		Response:    resp,
		Type:        string(m.Type.Bytes()),
		Port:        m.Port,
		Proto:       string(proto),
		Connection:  string(m.Conn.Bytes()),
		Crypto:      m.Crypto,
		Key:         m.Key,
		Fingerprint: string(m.Fingerprint.Bytes()),
		Secure:      secure,
		Unencrypted: unencrypted,
	}
	for i := 0; i < m.NSuites && i < maxSuites; i++ {
		fm.Suites = append(fm.Suites, string(m.Suites[i].Bytes()))
	}
	s.Media = append(s.Media, fm)
}

// sdes notes SRTP keying material in cleartext SDP.
func (st *state) sdes() {
	s := st.f.SIP.MediaPart()
	if !s.SDESKeys {
		s.SDESKeys, s.SDESKeysAt = true, st.f.Now()
	}
}

// suite adds a crypto suite name to the flow's distinct list.
func (st *state) suite(b []byte) {
	if len(b) == 0 {
		return
	}
	s := st.f.SIP.MediaPart()
	for _, x := range s.CryptoSuites {
		if x == string(b) {
			return
		}
	}
	if len(s.CryptoSuites) < maxAllSuites {
		s.CryptoSuites = append(s.CryptoSuites, string(clip(b, maxShort)))
	}
}
