package ldap

import (
	"math"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// count does the bookkeeping every framed message gets, parsed or not.
func (d *Detector) count(f *flow.Flow, st *state, m *message) {
	l := f.LDAP
	l.Messages++
	countOp(&l.Ops, m.op)
	st.lastResp = isResponse(m.op)
	if st.lastResp {
		l.ResponseBytes += uint64(m.total)
	} else {
		l.RequestBytes += uint64(m.total)
	}
	if l.RequestBytes > 0 {
		l.Amplification = float64(l.ResponseBytes) / float64(l.RequestBytes)
	}
	if l.StartTLSFailed && l.StartTLS != nil {
		l.StartTLS.ClearAfter++
	}
}

// message records the facts of one valid message.
func (d *Detector) message(f *flow.Flow, st *state, m *message) {
	f.Certain = true // a complete LDAPMessage whose operation parsed
	d.count(f, st, m)
	l := f.LDAP
	clear := true
	switch m.op {
	case opBindRequest:
		d.bind(f, st, m)
	case opBindResponse:
		d.bindResponse(f, st, m)
	case opSearchRequest:
		d.search(f, st, m)
	case opSearchResultEntry:
		if p, ok := st.take(m.id, opSearchRequest, false); ok && p.idx >= 0 {
			l.Searches[p.idx].Entries++
		}
	case opSearchResultDone:
		if res, ok := parseResult(m.op, m.body); ok {
			if p, ok := st.take(m.id, opSearchRequest, true); ok && p.idx >= 0 {
				s := &l.Searches[p.idx]
				s.Answered, s.Result = true, res.code
			}
		}
	case opExtendedRequest:
		clear = !d.extended(f, st, m)
	case opExtendedResponse:
		clear = !d.extendedResponse(f, st, m)
	}
	if clear {
		st.clearOps++
		l.Cleartext = true
	}
}

// countOp counts a message of operation op; the rare operations' counters are the flow's own
// block (flow.LDAPOpsRare), made at the first of them.
func countOp(o *flow.LDAPOps, op byte) {
	switch op {
	case opBindRequest:
		o.BindRequest++
	case opBindResponse:
		o.BindResponse++
	case opUnbindRequest:
		o.UnbindRequest++
	case opSearchRequest:
		o.SearchRequest++
	case opSearchResultEntry:
		o.SearchResultEntry++
	case opSearchResultDone:
		o.SearchResultDone++
	case opSearchResultReference:
		o.Rare().SearchResultReference++
	case opModifyRequest:
		o.Rare().ModifyRequest++
	case opModifyResponse:
		o.Rare().ModifyResponse++
	case opAddRequest:
		o.Rare().AddRequest++
	case opAddResponse:
		o.Rare().AddResponse++
	case opDelRequest:
		o.Rare().DelRequest++
	case opDelResponse:
		o.Rare().DelResponse++
	case opModifyDNRequest:
		o.Rare().ModifyDNRequest++
	case opModifyDNResponse:
		o.Rare().ModifyDNResponse++
	case opCompareRequest:
		o.Rare().CompareRequest++
	case opCompareResponse:
		o.Rare().CompareResponse++
	case opAbandonRequest:
		o.Rare().AbandonRequest++
	case opExtendedRequest:
		o.Rare().ExtendedRequest++
	case opExtendedResponse:
		o.Rare().ExtendedResponse++
	case opIntermediateResponse:
		o.Rare().IntermediateResponse++
	}
}

// The values of LDAPBind.Auth and LDAPBind.Kind, shared by the binds of each kind. Nothing
// writes to them.
var (
	bindSimple      = flow.LDAPBindAuth{Auth: "simple", Kind: "simple"}
	bindAnonymous   = flow.LDAPBindAuth{Auth: "simple", Kind: "anonymous"}
	bindUnauthentic = flow.LDAPBindAuth{Auth: "simple", Kind: "unauthenticated"}
	bindSASL        = flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}
	bindSicily      = flow.LDAPBindAuth{Auth: "sicily", Kind: "sicily"}
)

func (d *Detector) bind(f *flow.Flow, st *state, m *message) {
	l := f.LDAP
	l.BindCount++
	b, ok := parseBind(m.body)
	if !ok {
		return
	}
	e := flow.LDAPBind{Event: f.Now(), MessageID: m.id, Version: uint8(b.version), Result: -1}
	wrap := false
	switch b.auth {
	case authSimple:
		e.PasswordPresent, e.PasswordLen = len(b.password) > 0, len32(b.password)
		switch {
		case len(b.password) > 0:
			e.LDAPBindAuth = &bindSimple
			l.CleartextPassword = true
		case len(b.name) == 0:
			e.LDAPBindAuth = &bindAnonymous
			l.AnonymousBind = true
		default:
			e.LDAPBindAuth = &bindUnauthentic
			l.UnauthenticatedBind = true
		}
	case authSASL:
		e.LDAPBindAuth = &bindSASL
		e.CredentialsPresent, e.CredentialsLen = b.hasCreds && len(b.creds) > 0, len32(b.creds)
		mech, known := mechanism(b.mech)
		switch mech {
		case "PLAIN":
			e.ReusablePassword = plainHasPassword(b.creds)
		case "LOGIN":
			e.ReusablePassword = len(b.creds) > 0
		case "DIGEST-MD5", "CRAM-MD5":
			l.DeprecatedSASL = true
		}
		if e.ReusablePassword {
			l.CleartextPassword = true
		}
		wrap = securityLayer(mech, known)
		if known {
			e.Mechanism = mech
		} else if len(l.Binds) < maxBinds {
			e.Mechanism = bounded(b.mech, maxMech)
		}
	default: // sicily
		e.LDAPBindAuth, e.Mechanism = &bindSicily, "NTLM"
		e.CredentialsPresent, e.CredentialsLen = len(b.creds) > 0, len32(b.creds)
		wrap = true
	}
	idx := int8(-1)
	if len(l.Binds) < maxBinds {
		e.DN = boundedShared(b.name, maxDN)
		idx = int8(len(l.Binds))
		l.Binds = append(grow(l.Binds, maxBinds), e)
	}
	st.push(pending{id: m.id, op: opBindRequest, idx: idx, wrap: wrap})
}

// plainHasPassword reports whether SASL PLAIN credentials ([authzid] NUL authcid NUL passwd,
// RFC 4616) carry a password. Credentials that do not have that shape are counted as carrying
// one: the server may still take them, and a false alarm is better than a missed password.
func plainHasPassword(c []byte) bool {
	if len(c) == 0 {
		return false
	}
	nul := 0
	last := -1
	for i, b := range c {
		if b == 0 {
			nul++
			last = i
		}
	}
	if nul != 2 {
		return true
	}
	return last < len(c)-1
}

func (d *Detector) bindResponse(f *flow.Flow, st *state, m *message) {
	l := f.LDAP
	res, ok := parseResult(m.op, m.body)
	if !ok {
		return
	}
	if res.code == resultInvalidCredentials {
		l.FailedBinds++
	}
	p, ok := st.take(m.id, opBindRequest, true)
	if !ok {
		return
	}
	if p.wrap {
		switch res.code {
		case resultSuccess:
			st.wrapOK = true
		case resultSASLBindInProgress:
		default:
			st.wrapOK = false
		}
	}
	if p.idx < 0 {
		return
	}
	b := &l.Binds[p.idx]
	b.Answered, b.Result, b.ResultName, b.Response = true, res.code, resultName(res.code), f.Now()
	if len(res.diagnostic) > 0 {
		b.Diagnostic = bounded(res.diagnostic, maxDiag)
	}
}

func (d *Detector) search(f *flow.Flow, st *state, m *message) {
	l := f.LDAP
	l.SearchCount++
	var sink filterSink
	q, ok := parseSearch(m.body, &sink)
	if !ok {
		return
	}
	if sink.spn {
		l.SPNSearch = true
	}
	idx := int8(-1)
	if len(l.Searches) < maxSearches {
		s := flow.LDAPSearch{Event: f.Now(), MessageID: m.id, Base: boundedShared(q.base, maxDN),
			LDAPSearchNames: searchNames(q.scope, q.attrs, &sink), SPN: sink.spn, Result: -1}
		idx = int8(len(l.Searches))
		l.Searches = append(grow(l.Searches, maxSearches), s)
	}
	st.push(pending{id: m.id, op: opSearchRequest, idx: idx})
}

// extended records an extended request; it reports whether it was a StartTLS.
func (d *Detector) extended(f *flow.Flow, st *state, m *message) bool {
	l := f.LDAP
	e, ok := parseExtended(m.body)
	if !ok {
		return false
	}
	name, oid := extendedName(e.name)
	if oid == oidStartTLS {
		if l.StartTLS == nil {
			l.StartTLS = &flow.LDAPStartTLS{Event: f.Now(), MessageID: m.id, Result: -1}
		}
		st.push(pending{id: m.id, op: opExtendedRequest, idx: -1, tls: true})
		return true
	}
	x := l.ExtendedPart()
	x.ExtendedCount++
	carries := oid == oidPasswordModify && e.hasValue && passwordModifyCarries(e.value)
	if carries {
		x.PasswordModify = true
	}
	idx := int8(-1)
	if len(x.Extended) < maxExtended {
		if oid == "" {
			oid = bounded(e.name, maxOID)
		}
		idx = int8(len(x.Extended))
		x.Extended = append(grow(x.Extended, maxExtended), flow.LDAPExtended{Event: f.Now(), MessageID: m.id,
			OID: oid, Name: name, CarriesPassword: carries, Result: -1})
	}
	st.push(pending{id: m.id, op: opExtendedRequest, idx: idx})
	return false
}

// extendedResponse records an extended response; it reports whether it answered a StartTLS.
func (d *Detector) extendedResponse(f *flow.Flow, st *state, m *message) bool {
	l := f.LDAP
	res, ok := parseResult(m.op, m.body)
	if !ok {
		return false
	}
	p, ok := st.take(m.id, opExtendedRequest, true)
	if !ok {
		// A response whose request was not seen: a StartTLS one still names itself.
		if string(res.name) != oidStartTLS {
			return false
		}
		p.tls = true
		if l.StartTLS == nil {
			l.StartTLS = &flow.LDAPStartTLS{MessageID: m.id, Result: -1}
		}
	}
	if !p.tls {
		if p.idx >= 0 {
			x := &l.Extended[p.idx]
			x.Answered, x.Result = true, res.code
		}
		return false
	}
	s := l.StartTLS
	s.Answered, s.Result, s.ResultName, s.Response = true, res.code, resultName(res.code), f.Now()
	if res.code == resultSuccess {
		d.upgrade(f, st)
	} else {
		l.StartTLSFailed = true
	}
	return true
}

// grow returns list with room for one more element, for a facts list bounded to bound
// entries. A full list of fewer than 4 doubles; a longer one grows by half, up to the bound
// (append would double it: a list of 9 searches would hold room for 16, and a flow holds its
// lists as long as it is open).
func grow[T any](list []T, bound int) []T {
	if len(list) < cap(list) {
		return list
	}
	n := max(2*cap(list), 1)
	if cap(list) >= 4 {
		n = cap(list) + cap(list)/2
	}
	grown := make([]T, len(list), min(n, bound))
	copy(grown, list)
	return grown
}

// len32 is the length of b as the facts keep it (a message is far shorter than 2 GiB; a
// longer one would read as the largest int32).
func len32(b []byte) int32 { return int32(min(len(b), math.MaxInt32)) }

// bounded returns the first max bytes of b as a string (the one allocation of a kept fact).
func bounded(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	return string(b)
}

// securityLayer reports whether a SASL mechanism may negotiate a security layer (RFC 4422
// §3.7), after which the stream is wrapped: GSSAPI, GSS-SPNEGO, DIGEST-MD5, SRP, NTLM and any
// mechanism not known to have none.
func securityLayer(mech string, known bool) bool {
	if !known {
		return true
	}
	switch mech {
	case "PLAIN", "LOGIN", "EXTERNAL", "ANONYMOUS", "CRAM-MD5", "OTP", "OAUTHBEARER", "XOAUTH2",
		"GS2-KRB5", "GS2-KRB5-PLUS", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
		"SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS", "GSS-SPNEGO-PLUS":
		return false
	}
	return true
}
