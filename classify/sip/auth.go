package sip

import (
	"bytes"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// credentials reads an Authorization or Proxy-Authorization header (RFC 3261 §22.4, RFC 7616,
// RFC 8760). Only the scheme, the non-secret digest parameters and the presence and length of
// the response or Basic token are kept: never the response, the nonce, the cnonce or a token.
func (st *state) credentials(header string, v []byte) {
	f := st.f
	s := f.SIP.AuthPart()
	s.CredentialCount++
	if s.Auth.First == (flow.Event{}) {
		s.Auth.First = f.Now()
	}
	keep := len(s.Credentials) < maxCreds
	var c flow.SIPCredential
	scheme, rest := token(v, "")
	rest = trimWS(rest)
	switch {
	case eqFold(scheme, "digest"):
		s.Auth.Digest = true
		c.Scheme = "Digest"
		p := params{b: rest, sep: ','}
		for {
			name, val, ok := p.next()
			if !ok {
				break
			}
			switch {
			case eqFold(name, "response"):
				c.Response, c.ResponseLen = true, len(val)
				if len(val) > 0 {
					s.Auth.DigestResponse = true
				}
			case !keep:
			case eqFold(name, "username"):
				setOnce(&c.Username, val, maxValue)
			case eqFold(name, "realm"):
				setOnce(&c.Realm, val, maxValue)
			case eqFold(name, "algorithm"):
				setOnce(&c.Algorithm, val, maxShort)
			case eqFold(name, "qop"):
				setOnce(&c.QOP, val, maxShort)
			case eqFold(name, "uri"):
				setURIOnce(&c.URI, val)
			}
		}
	case eqFold(scheme, "basic"):
		s.Auth.Basic = true
		c.Scheme, c.TokenLen = "Basic", len(rest)
	default:
		s.Auth.Other = true
		c.TokenLen = len(rest)
		if keep {
			c.Scheme = string(clip(scheme, maxScheme))
		}
	}
	if !keep {
		return
	}
	c.Event = f.Now()
	c.Header = header
	if st.msg.method < methodOther {
		c.Method = methodNames[st.msg.method]
	} else {
		c.Method = string(clip(st.msg.methodB, maxMethod))
	}
	s.Credentials = append(s.Credentials, c)
}

// challenge reads a WWW-Authenticate or Proxy-Authenticate header. The nonce and opaque
// values are not kept.
func (st *state) challenge(header string, v []byte) {
	f := st.f
	s := f.SIP.AuthPart()
	s.ChallengeCount++
	s.Auth.Challenged = true
	if len(s.Challenges) >= maxChalls {
		return
	}
	c := flow.SIPChallenge{Event: f.Now(), Header: header, Code: st.msg.code}
	scheme, rest := token(v, "")
	switch {
	case eqFold(scheme, "digest"):
		c.Scheme = "Digest"
	case eqFold(scheme, "basic"):
		c.Scheme = "Basic"
	default:
		c.Scheme = string(clip(scheme, maxScheme))
	}
	p := params{b: rest, sep: ','}
	for {
		name, val, ok := p.next()
		if !ok {
			break
		}
		switch {
		case eqFold(name, "realm"):
			setOnce(&c.Realm, val, maxValue)
		case eqFold(name, "algorithm"):
			setOnce(&c.Algorithm, val, maxShort)
		case eqFold(name, "qop"):
			setOnce(&c.QOP, val, maxShort)
		case eqFold(name, "stale"):
			c.Stale = eqFold(val, "true")
		}
	}
	s.Challenges = append(s.Challenges, c)
}

// uriOf returns the URI of a name-addr or addr-spec header value (From, To, Contact): the part
// inside <...> when present, else the value up to its parameters.
func uriOf(v []byte) []byte {
	if bytes.IndexByte(v, '"') < 0 {
		// No display name in quotes: the first '<', if any, opens the URI.
		if i := bytes.IndexByte(v, '<'); i >= 0 {
			return bracketed(v[i+1:])
		}
		return addrSpec(v)
	}
	q := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			q = !q
		case c == '\\' && q:
			i++
		case c == '<' && !q:
			return bracketed(v[i+1:])
		}
	}
	// An unbalanced quote in the display name: take the first '<' anyway.
	if i := bytes.IndexByte(v, '<'); i >= 0 {
		rest := v[i+1:]
		if j := bytes.IndexByte(rest, '>'); j >= 0 {
			return trimWS(rest[:j])
		}
	}
	return addrSpec(v)
}

// bracketed returns the URI of a name-addr after its '<': up to '>' or the end.
func bracketed(rest []byte) []byte {
	if j := bytes.IndexByte(rest, '>'); j >= 0 {
		return trimWS(rest[:j])
	}
	return trimWS(rest)
}

// addrSpec returns the URI of an addr-spec value: up to its parameters or the next value.
func addrSpec(v []byte) []byte {
	u, _, _ := cut(v, ';')
	if c, _, ok := cut(u, ','); ok { // Contact: several values
		u = c
	}
	return trimWS(u)
}

// setURIOnce stores the URI of a header value in *dst, with any password redacted, unless
// *dst is already set.
func setURIOnce(dst *string, v []byte) {
	if *dst != "" {
		return
	}
	if u := uriOf(v); len(u) > 0 {
		*dst = redactURI(u, maxURI)
	}
}

// userinfoPassword finds the password of a `user:password@` userinfo in uri (RFC 3261
// §19.1.1 allows it; it is a cleartext secret): the password is uri[from:to].
func userinfoPassword(uri []byte) (from, to int, ok bool) {
	colon := bytes.IndexByte(uri, ':')
	if colon < 0 {
		return 0, 0, false
	}
	rest := uri[colon+1:]
	// The userinfo ends at '@', before any parameter or header part.
	at := -1
	for i, c := range rest {
		if c == '@' {
			at = i
			break
		}
		if c == ';' || c == '?' || c == '>' {
			break
		}
	}
	if at < 0 {
		return 0, 0, false
	}
	pw := bytes.IndexByte(rest[:at], ':')
	if pw < 0 {
		return 0, 0, false
	}
	return colon + 1 + pw + 1, colon + 1 + at, true
}

// redactURI returns the first max bytes of uri with the password of a `user:password@`
// userinfo replaced by "***".
func redactURI(uri []byte, max int) string {
	if _, _, ok := userinfoPassword(uri); !ok {
		return string(clip(uri, max))
	}
	return string(appendURI(make([]byte, 0, min(len(uri), max)+3), uri, max))
}

// appendURI appends to dst what redactURI returns, never more than max bytes.
func appendURI(dst, uri []byte, max int) []byte {
	from, to, ok := userinfoPassword(uri)
	if !ok {
		return append(dst, clip(uri, max)...)
	}
	room := max
	for _, part := range [...][]byte{uri[:from], []byte("***"), uri[to:]} {
		part = clip(part, room)
		dst = append(dst, part...)
		room -= len(part)
	}
	return dst
}
