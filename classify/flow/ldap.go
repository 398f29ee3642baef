package flow

// LDAPFacts is what the LDAP detector read from a flow (owned by classify/ldap; see its README).
type LDAPFacts struct {
	// Messages counts the LDAP messages parsed in cleartext on the flow.
	Messages uint32 `json:"messages" expr:"messages"`
	// Binds lists the bind requests seen in cleartext, in order (bounded).
	Binds []LDAPBind `json:"binds,omitempty" expr:"binds"`
	// StartTLS is set when a StartTLS extended request was seen.
	StartTLS *LDAPStartTLS `json:"starttls,omitempty" expr:"starttls"`
	First    Event         `json:"first" expr:"first"`
}

// LDAPBind is one BindRequest. Secrets are never stored: only whether one was present and its length.
type LDAPBind struct {
	Event
	Version     uint8  `json:"version" expr:"version"`
	DN          string `json:"dn" expr:"dn"`
	Auth        string `json:"auth" expr:"auth"` // "simple" or "sasl"
	PasswordLen int    `json:"password_length" expr:"password_len"`
}

// LDAPStartTLS is a StartTLS extended operation and its outcome.
type LDAPStartTLS struct {
	Event
	Answered bool  `json:"answered" expr:"answered"`
	Result   int32 `json:"result" expr:"result"` // LDAP result code of the ExtendedResponse
}
