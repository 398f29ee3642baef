package flow

// TLSFacts is what the TLS parser read from a handshake (owned by classify/tls; see its
// README). The json tags follow ECS tls.* where ECS has a field.
type TLSFacts struct {
	// Version is the negotiated version as ECS writes it ("1.2"), VersionProtocol "tls" or "ssl".
	Version         string `json:"version,omitempty" expr:"version"`
	VersionProtocol string `json:"version_protocol,omitempty" expr:"version_protocol"`
	ClientHello     Event  `json:"-" expr:"client_hello"`
	ServerHello     Event  `json:"-" expr:"server_hello"`
}
