package tls

import (
	"bytes"
	"crypto"
	"crypto/dsa" //nolint:staticcheck // DSA keys still appear in old certificates: report their size
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // verifying legacy self-signatures, not protecting anything
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // idem
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/cryptobyte"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Bounds on what a certificate contributes to the facts.
const (
	maxAltNames   = 32
	maxNameLen    = 256 // bytes of a subject, issuer or alternative name kept
	maxCertErrLen = 128
)

// parseCertificates reads a TLS ≤ 1.2 Certificate message (RFC 5246 §7.4.2): the chain
// length, and the facts of the leaf certificate parsed with crypto/x509, whether it was valid
// at t.Certificate.Time. It runs once per flow. A leaf that does not parse sets
// CertificateError and returns ErrCertificate. t.Server then points to facts shared with the
// other flows that saw the same certificate: nothing may write through it.
func parseCertificates(t *flow.TLSFacts, body []byte) error {
	in := cryptobyte.String(body)
	var list cryptobyte.String
	if !in.ReadUint24LengthPrefixed(&list) {
		return ErrCertificate
	}
	var leaf cryptobyte.String
	n := 0
	for !list.Empty() {
		var c cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&c) {
			return ErrCertificate
		}
		if n == 0 {
			leaf = c
		}
		n++
	}
	if n == 0 {
		return nil // an empty chain: nothing to report on
	}
	sum := sha256.Sum256(leaf)
	c := cachedLeaf(sum, leaf)
	expired := false
	if srv := &c.server; srv.NotAfter != 0 {
		at := t.Certificate.Time.Time()
		expired = srv.NotAfter.Time().Before(at) || srv.NotBefore.Time().After(at)
	}
	t.Server = c.facts(n, expired)
	if c.cert == nil {
		return ErrCertificate
	}
	if t.Client == nil { // facts not made by NewTLSFacts
		return nil
	}
	if sni := t.Client.ServerName; sni != "" {
		t.NameMatchesSNI = &nameMismatch
		if nameMatches(c.cert, sni) {
			t.NameMatchesSNI = &nameMatch
		}
	}
	return nil
}

// nameMatch and nameMismatch are what TLSFacts.NameMatchesSNI points to: shared, read-only,
// so that the answer costs a flow no allocation.
var nameMatch, nameMismatch = true, false

// parsedCert is what a leaf certificate gives the facts, whatever flow carried it.
type parsedCert struct {
	server flow.TLSServerFacts // ChainLength and Expired are the flow's own, zero here
	cert   *x509.Certificate   // nil when the leaf did not parse; parsed from a copy

	// shared are the server facts handed to flows, with their chain length and expiry set:
	// flows that saw the certificate alike share one, read-only (see facts).
	mu     sync.Mutex
	shared []*flow.TLSServerFacts
}

// maxShared bounds the kinds of server facts a certificate shares; a flow of another kind
// gets facts of its own.
const maxShared = 8

// facts returns the server facts of a flow that saw the certificate in a chain of n and
// found it expired or not. Flows that saw it alike share the facts, which nothing writes to.
func (p *parsedCert) facts(n int, expired bool) *flow.TLSServerFacts {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.shared {
		if s.ChainLength == n && s.Expired == expired {
			return s
		}
	}
	s := new(flow.TLSServerFacts)
	*s = p.server
	s.ChainLength, s.Expired = n, expired
	if len(p.shared) < maxShared {
		p.shared = append(p.shared, s)
	}
	return s
}

// leaves remembers the leaves parsed lately, by their SHA-256: a server presents the same
// certificate on every connection, and parsing it (and checking its self-signature) costs
// tens of microseconds, more than all the rest of a handshake. The facts are the same as from
// a fresh parse, so the output does not depend on the cache.
var leaves = newBoundedCache[[32]byte, *parsedCert](leafCacheSize)

const leafCacheSize = 1024

// cachedLeaf returns the parsed facts of a leaf certificate, from the cache when it was seen.
func cachedLeaf(sum [32]byte, der []byte) *parsedCert {
	if p, ok := leaves.load(sum); ok {
		return p
	}
	p := parseLeaf(sum, der)
	leaves.store(sum, p)
	return p
}

// parseLeaf parses a leaf certificate into the facts that do not depend on the flow.
func parseLeaf(sum [32]byte, leaf []byte) *parsedCert {
	p := &parsedCert{}
	srv := &p.server
	srv.Hash.SHA256 = hex.EncodeToString(sum[:])
	cert, err := x509.ParseCertificate(bytes.Clone(leaf)) // the cached certificate outlives the packet
	if err != nil {
		msg := err.Error()
		if len(msg) > maxCertErrLen {
			msg = msg[:maxCertErrLen]
		}
		srv.CertificateError = msg
		return p
	}
	certFacts(srv, cert)
	p.cert = cert
	return p
}

// certFacts fills the server facts from the parsed leaf certificate. The slices are clipped
// so that a flow appending to its copy never writes into another's.
func certFacts(srv *flow.TLSServerFacts, cert *x509.Certificate) {
	srv.Subject = clip(cert.Subject.String(), maxNameLen)
	srv.Issuer = clip(cert.Issuer.String(), maxNameLen)
	srv.NotBefore, srv.NotAfter = flow.DateOf(cert.NotBefore), flow.DateOf(cert.NotAfter)

	x := &srv.X509
	x.VersionNumber = strconv.Itoa(cert.Version)
	if cert.SerialNumber != nil {
		x.SerialNumber = strings.ToUpper(cert.SerialNumber.Text(16))
	}
	x.SignatureAlgorithm = cert.SignatureAlgorithm.String()
	x.PublicKeyAlgorithm = cert.PublicKeyAlgorithm.String()
	switch pk := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		x.PublicKeySize, x.PublicKeyExponent = pk.N.BitLen(), pk.E
	case *ecdsa.PublicKey:
		p := pk.Curve.Params()
		x.PublicKeySize = p.BitSize
		x.PublicKeyCurve = "nist" + strings.ToLower(strings.ReplaceAll(p.Name, "-", ""))
	case ed25519.PublicKey:
		x.PublicKeySize = 256
	case *dsa.PublicKey:
		x.PublicKeySize = pk.P.BitLen()
	}
	for _, n := range cert.DNSNames {
		if len(x.AlternativeNames) == maxAltNames {
			break
		}
		x.AlternativeNames = append(x.AlternativeNames, clip(n, maxNameLen))
	}
	for _, ip := range cert.IPAddresses {
		if len(x.AlternativeNames) == maxAltNames {
			break
		}
		x.AlternativeNames = append(x.AlternativeNames, ip.String())
	}
	x.Subject = x509Name(cert.Subject.CommonName, cert.Subject.Organization)
	x.Issuer = x509Name(cert.Issuer.CommonName, cert.Issuer.Organization)

	srv.SelfIssued = bytes.Equal(cert.RawSubject, cert.RawIssuer)
	srv.SelfSigned = srv.SelfIssued && selfSignatureOK(cert)
	x.AlternativeNames = slices.Clip(x.AlternativeNames)
	x.Subject.Organization = slices.Clip(x.Subject.Organization)
	x.Issuer.Organization = slices.Clip(x.Issuer.Organization)
}

func x509Name(cn string, org []string) flow.X509Name {
	var n flow.X509Name
	if cn != "" {
		n.CommonName = []string{clip(cn, maxNameLen)}
	}
	for i, o := range org {
		if i == 4 {
			break
		}
		n.Organization = append(n.Organization, clip(o, maxNameLen))
	}
	return n
}

// selfSignatureOK reports whether the certificate's signature verifies with its own public
// key. CheckSignature is used rather than CheckSignatureFrom(cert), which also demands that
// the signer be a CA (a self-signed server certificate often is not). Go refuses SHA-1 and
// MD5 signatures; those, still common on old self-signed certificates, are checked here.
func selfSignatureOK(cert *x509.Certificate) bool {
	err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
	if err == nil {
		return true
	}
	var insecure x509.InsecureAlgorithmError
	if !errors.As(err, &insecure) {
		return false
	}
	var h crypto.Hash
	var digest []byte
	switch cert.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1:
		s := sha1.Sum(cert.RawTBSCertificate) //nolint:gosec
		h, digest = crypto.SHA1, s[:]
	case x509.MD5WithRSA:
		s := md5.Sum(cert.RawTBSCertificate) //nolint:gosec
		h, digest = crypto.MD5, s[:]
	default:
		return false
	}
	switch pk := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pk, h, digest, cert.Signature) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pk, digest, cert.Signature)
	}
	return false
}

// nameMatches reports whether the certificate is valid for the SNI host name. Go checks only
// the subject alternative names; a certificate without any is matched on its common name, as
// older clients do.
func nameMatches(cert *x509.Certificate, sni string) bool {
	if cert.VerifyHostname(sni) == nil {
		return true
	}
	if len(cert.DNSNames) > 0 || len(cert.IPAddresses) > 0 {
		return false
	}
	cn := cert.Subject.CommonName
	if strings.EqualFold(cn, sni) {
		return true
	}
	if rest, ok := strings.CutPrefix(cn, "*."); ok {
		if i := strings.IndexByte(sni, '.'); i > 0 {
			return strings.EqualFold(rest, sni[i+1:])
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
