package flow

import "time"

// TLSFacts is what the TLS parser read from a handshake (see classify/tls/README.md). The
// json tags follow ECS tls.* where ECS has a field.
type TLSFacts struct {
	// Version is the negotiated version as ECS writes it ("1.2"); TLS 1.3 is read from the
	// ServerHello's supported_versions extension. VersionProtocol is "tls" or "ssl".
	Version         string `json:"version,omitempty" expr:"version"`
	VersionProtocol string `json:"version_protocol,omitempty" expr:"version_protocol"`
	// Cipher is the selected cipher suite's IANA name.
	Cipher string `json:"cipher,omitempty" expr:"cipher"`
	// Kex is the key exchange of the selected suite: rsa, ecdhe, dhe, psk, tls13, other.
	Kex         string    `json:"kex,omitempty" expr:"kex"`
	Established bool      `json:"established" expr:"established"`
	Client      TLSClient `json:"client" expr:"client"`
	Server      TLSServer `json:"server" expr:"server"`
	// Alert is the first fatal alert seen, by name.
	Alert       string `json:"alert,omitempty" expr:"alert"`
	ClientHello Event  `json:"-" expr:"client_hello"`
	ServerHello Event  `json:"-" expr:"server_hello"`
}

// TLSClient is what the ClientHello offered.
type TLSClient struct {
	ServerName string   `json:"server_name,omitempty" expr:"server_name"`
	VersionMax string   `json:"version_max,omitempty" expr:"version_max"`
	Ciphers    int      `json:"cipher_count,omitempty" expr:"cipher_count"`
	ALPN       []string `json:"alpn,omitempty" expr:"alpn"`
	JA4        string   `json:"ja4,omitempty" expr:"ja4"`
}

// TLSServer is the server's leaf certificate, when it was visible (TLS 1.2 and older).
type TLSServer struct {
	Subject    string    `json:"subject,omitempty" expr:"subject"`
	Issuer     string    `json:"issuer,omitempty" expr:"issuer"`
	NotBefore  time.Time `json:"not_before,omitzero" expr:"not_before"`
	NotAfter   time.Time `json:"not_after,omitzero" expr:"not_after"`
	SelfSigned bool      `json:"self_signed,omitempty" expr:"self_signed"`
	// KeyAlgorithm and KeyBits describe the public key (ECS tls.server.x509.public_key_*).
	KeyAlgorithm string   `json:"public_key_algorithm,omitempty" expr:"key_algorithm"`
	KeyBits      int      `json:"public_key_size,omitempty" expr:"key_bits"`
	Names        []string `json:"alternative_names,omitempty" expr:"names"`
	// NameMatches is false when the client sent an SNI the certificate does not cover.
	NameMatches bool   `json:"name_matches_sni,omitempty" expr:"name_matches"`
	CertError   string `json:"certificate_error,omitempty" expr:"certificate_error"`
	Certificate Event  `json:"-" expr:"certificate"`
}
