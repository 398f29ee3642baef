package flow

// TLSFacts is what the TLS parser read from a handshake (owned by classify/tls; see its
// README). The json tags follow ECS tls.* where ECS has a field; the fields ECS does not
// have (kex, name_matches_sni, alerts, server.self_signed, ...) are named in the same style.
// The expr tags equal the json names.
//
// Every value is negotiated or offered in the clear: with TLS 1.3 the certificate is
// encrypted, so Server stays empty.
type TLSFacts struct {
	// Version is the negotiated version as ECS writes it ("1.2", "3.0"), VersionProtocol
	// "tls" or "ssl". TLS 1.3 is read only from the ServerHello's supported_versions.
	Version         string `json:"version,omitempty" expr:"version"`
	VersionProtocol string `json:"version_protocol,omitempty" expr:"version_protocol"`
	// Cipher is the IANA name of the selected cipher suite ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
	// or "0x%04X" for a suite the parser does not know.
	Cipher string `json:"cipher,omitempty" expr:"cipher"`
	// Kex is the key exchange of the selected suite: "rsa" (no forward secrecy), "dhe",
	// "ecdhe", "dh", "ecdh" (static), "anon", "psk", "dhe_psk", "ecdhe_psk", "rsa_psk",
	// "krb5", "srp", "eccpwd", "gost", "null", or "tls13" for every TLS 1.3 suite.
	Kex string `json:"kex,omitempty" expr:"kex"`
	// Established is true when the handshake visibly completed: ChangeCipherSpec from both
	// sides (TLS ≤ 1.2), or application data after it. For TLS 1.3: encrypted data from the
	// server after the client's first encrypted record (its Finished).
	Established bool `json:"established" expr:"established"`
	// Resumed: an abbreviated handshake (session ID or ticket, or a TLS 1.3 pre-shared key).
	Resumed bool `json:"resumed,omitempty" expr:"resumed"`
	// NextProtocol is the ALPN protocol the server selected (ECS tls.next_protocol).
	NextProtocol string `json:"next_protocol,omitempty" expr:"next_protocol"`
	// Compressed: the server selected TLS compression (CRIME).
	Compressed bool `json:"compressed,omitempty" expr:"compressed"`
	// NameMatchesSNI is nil when it could not be checked (no SNI or no parsed certificate),
	// else whether the leaf certificate is valid for the SNI name.
	NameMatchesSNI *bool `json:"name_matches_sni,omitempty" expr:"name_matches_sni"`

	// Client is never nil: facts made by NewTLSFacts point to a shared empty block until a
	// ClientHello is read, and then to facts shared, read-only, by the flows whose client
	// offered the same (a client makes the same offer on every connection). A detector
	// replaces the pointer; it never writes through it.
	Client *TLSClientFacts `json:"client,omitzero" expr:"client"`
	// Server is never nil: facts made by NewTLSFacts point to a shared empty block until a
	// certificate is read, and then to facts shared, read-only, by the flows that saw the same
	// certificate (with the same chain length and expiry). A detector replaces the pointer;
	// it never writes through it.
	Server *TLSServerFacts `json:"server,omitzero" expr:"server"`

	// Alerts are the cleartext alerts seen before inspection ended (bounded).
	Alerts []TLSAlert `json:"alerts,omitempty" expr:"alerts"`

	ClientHello Event `json:"-" expr:"client_hello"`
	ServerHello Event `json:"-" expr:"server_hello"`
	Certificate Event `json:"-" expr:"certificate"`
}

// noTLSServer is the empty TLSServerFacts of every TLSFacts that read no certificate, and
// noTLSClient the empty TLSClientFacts of every TLSFacts that read no ClientHello. Nothing
// writes to them.
var (
	noTLSServer TLSServerFacts
	noTLSClient TLSClientFacts
)

// NoTLSClient returns the shared, read-only empty TLSClientFacts.
func NoTLSClient() *TLSClientFacts { return &noTLSClient }

// TLSClientFacts is what the ClientHello offered.
type TLSClientFacts struct {
	ServerName string `json:"server_name,omitempty" expr:"server_name"` // SNI host name
	// SupportedCiphers are the offered suites' names in the client's order, GREASE left out,
	// at most 64 (CipherCount has the total).
	SupportedCiphers []string `json:"supported_ciphers,omitempty" expr:"supported_ciphers"`
	CipherCount      int      `json:"cipher_count,omitempty" expr:"cipher_count"`
	// ALPN are the offered application protocols (the selected one is tls.next_protocol).
	ALPN []string `json:"alpn,omitempty" expr:"alpn"`
	// VersionMax is the highest version offered (supported_versions, else the legacy field).
	VersionMax string `json:"version_max,omitempty" expr:"version_max"`
	// JA4 is the FoxIO JA4 fingerprint of the ClientHello.
	JA4 string `json:"ja4,omitempty" expr:"ja4"`
	// SSLv2Hello: the ClientHello used the SSL 2.0 compatible format.
	SSLv2Hello bool `json:"sslv2_hello,omitempty" expr:"sslv2_hello"`
	// CertificateSent: the client sent a Certificate message (TLS ≤ 1.2 mutual TLS).
	CertificateSent bool `json:"certificate_sent,omitempty" expr:"certificate_sent"`
}

// IsZero reports whether c is nil or holds no fact (the shared empty block, for one): the
// output then leaves tls.client out, as it leaves out a zero struct.
func (c *TLSClientFacts) IsZero() bool {
	return c == nil || c == &noTLSClient ||
		c.ServerName == "" && c.SupportedCiphers == nil && c.CipherCount == 0 && c.ALPN == nil && c.VersionMax == "" &&
			c.JA4 == "" && !c.SSLv2Hello && !c.CertificateSent
}

// TLSServerFacts describes the server's leaf certificate (TLS ≤ 1.2 only).
type TLSServerFacts struct {
	Subject   string    `json:"subject,omitempty" expr:"subject"` // RFC 4514
	Issuer    string    `json:"issuer,omitempty" expr:"issuer"`   // RFC 4514
	NotBefore Date      `json:"not_before,omitzero" expr:"not_before"`
	NotAfter  Date      `json:"not_after,omitzero" expr:"not_after"`
	Hash      TLSHash   `json:"hash,omitzero" expr:"hash"`
	X509      X509Facts `json:"x509,omitzero" expr:"x509"`
	// SelfIssued: subject equals issuer. SelfSigned: and the signature verifies with the
	// certificate's own key.
	SelfIssued bool `json:"self_issued,omitempty" expr:"self_issued"`
	SelfSigned bool `json:"self_signed,omitempty" expr:"self_signed"`
	// Expired: the leaf certificate was outside its validity period (expired, or not yet
	// valid) at the packet time of the message that carried it. It is derived from not_before,
	// not_after and that time once, when the certificate is read, so that a policy reads a flag
	// instead of comparing times on every flow; it is not written to the output, which has
	// the times themselves.
	Expired bool `json:"-" expr:"expired"`
	// ChainLength is the number of certificates the server sent.
	ChainLength int `json:"chain_length,omitempty" expr:"chain_length"`
	// CertificateError is set when the leaf certificate did not parse.
	CertificateError string `json:"certificate_error,omitempty" expr:"certificate_error"`
}

// IsZero reports whether s is nil or holds no fact (the shared empty block, for one): the
// output then leaves tls.server out, as it leaves out a zero struct.
func (s *TLSServerFacts) IsZero() bool {
	return s == nil || s == &noTLSServer ||
		s.Subject == "" && s.Issuer == "" && s.NotBefore == 0 && s.NotAfter == 0 && s.Hash == (TLSHash{}) &&
			s.X509.isZero() && !s.SelfIssued && !s.SelfSigned && !s.Expired && s.ChainLength == 0 &&
			s.CertificateError == ""
}

// TLSHash holds certificate digests (ECS tls.server.hash.*), lower-case hex.
type TLSHash struct {
	SHA256 string `json:"sha256,omitempty" expr:"sha256"`
}

// X509Facts follows ECS x509.*.
type X509Facts struct {
	VersionNumber      string   `json:"version_number,omitempty" expr:"version_number"`
	SerialNumber       string   `json:"serial_number,omitempty" expr:"serial_number"` // upper-case hex
	SignatureAlgorithm string   `json:"signature_algorithm,omitempty" expr:"signature_algorithm"`
	PublicKeyAlgorithm string   `json:"public_key_algorithm,omitempty" expr:"public_key_algorithm"`
	PublicKeySize      int      `json:"public_key_size,omitempty" expr:"public_key_size"`
	PublicKeyCurve     string   `json:"public_key_curve,omitempty" expr:"public_key_curve"`
	PublicKeyExponent  int      `json:"public_key_exponent,omitempty" expr:"public_key_exponent"`
	AlternativeNames   []string `json:"alternative_names,omitempty" expr:"alternative_names"`
	Subject            X509Name `json:"subject,omitzero" expr:"subject"`
	Issuer             X509Name `json:"issuer,omitzero" expr:"issuer"`
}

func (x *X509Facts) isZero() bool {
	return x.VersionNumber == "" && x.SerialNumber == "" && x.SignatureAlgorithm == "" &&
		x.PublicKeyAlgorithm == "" && x.PublicKeySize == 0 && x.PublicKeyCurve == "" &&
		x.PublicKeyExponent == 0 && x.AlternativeNames == nil && x.Subject.isZero() && x.Issuer.isZero()
}

// X509Name holds the attributes of a distinguished name (ECS x509.subject.*, x509.issuer.*).
type X509Name struct {
	CommonName   []string `json:"common_name,omitempty" expr:"common_name"`
	Organization []string `json:"organization,omitempty" expr:"organization"`
}

// TLSAlert is one cleartext alert.
type TLSAlert struct {
	Level       string `json:"level" expr:"level"`             // "warning" or "fatal"
	Description string `json:"description" expr:"description"` // RFC 8446 name, "bad_certificate"
	Code        uint8  `json:"code" expr:"code"`
	From        string `json:"from" expr:"from"` // "client" or "server"
	Frame       uint64 `json:"frame" expr:"frame"`
	Time        Time   `json:"time" expr:"time"`
}

func (n *X509Name) isZero() bool { return n.CommonName == nil && n.Organization == nil }
