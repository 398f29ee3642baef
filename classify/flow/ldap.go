package flow

// LDAPFacts is what the LDAP detector read from a flow (owned by classify/ldap; see its README).
//
// Lists are bounded (the first entries are kept) and come with a total count. No field ever
// holds a secret: a password or SASL credential is described by its presence and its length.
type LDAPFacts struct {
	// First is where the first LDAP message of the flow was seen.
	First Event `json:"first" expr:"first"`
	// Messages counts the LDAP messages parsed in cleartext on the flow (both directions).
	Messages uint32 `json:"messages" expr:"messages"`
	// Ops counts the messages by operation (ldap.ops.search_request > 0).
	Ops LDAPOps `json:"ops" expr:"ops"`
	// CLDAP is true for connectionless LDAP (over UDP).
	CLDAP bool `json:"cldap" expr:"cldap"`
	// RequestBytes and ResponseBytes sum the sizes of the LDAP request and response messages
	// seen in cleartext (by operation, whatever the direction the flow was first given).
	RequestBytes  uint64 `json:"request_bytes" expr:"request_bytes"`
	ResponseBytes uint64 `json:"response_bytes" expr:"response_bytes"`
	// Amplification is ResponseBytes / RequestBytes (0 when no request was seen).
	Amplification float64 `json:"amplification" expr:"amplification"`

	// Cleartext is true when LDAP operations travelled outside TLS: the flow carried LDAP
	// other than the StartTLS exchange itself, or no StartTLS succeeded.
	Cleartext bool `json:"cleartext" expr:"cleartext"`
	// TLSPort is true when the server port is 636 or 3269, where LDAP is expected inside TLS.
	TLSPort bool `json:"tls_port" expr:"tls_port"`

	// Binds lists the bind requests seen in cleartext, in order (the first 16); BindCount is
	// the total.
	Binds     []LDAPBind `json:"binds,omitempty" expr:"binds"`
	BindCount uint32     `json:"bind_count" expr:"bind_count"`
	// FailedBinds counts bind responses with result 49 (invalidCredentials).
	FailedBinds uint32 `json:"failed_binds" expr:"failed_binds"`
	// CleartextPassword is true when a simple bind carried a non-empty password or a SASL
	// PLAIN/LOGIN bind carried credentials, in cleartext (whatever the bind's result).
	CleartextPassword bool `json:"cleartext_password" expr:"cleartext_password"`
	// AnonymousBind / UnauthenticatedBind: a simple bind with an empty password, without or
	// with a name (RFC 4513 §5.1.1, §5.1.2).
	AnonymousBind       bool `json:"anonymous_bind" expr:"anonymous_bind"`
	UnauthenticatedBind bool `json:"unauthenticated_bind" expr:"unauthenticated_bind"`
	// DeprecatedSASL is true when a SASL bind used DIGEST-MD5 (RFC 6331) or CRAM-MD5.
	DeprecatedSASL bool `json:"deprecated_sasl" expr:"deprecated_sasl"`

	// StartTLS is set when a StartTLS extended request was seen (the first one).
	StartTLS *LDAPStartTLS `json:"starttls,omitempty" expr:"starttls"`
	// Upgraded is true when a StartTLS succeeded: what follows on the flow is TLS (see
	// Record.TLS). StartTLSFailed is true when a StartTLS was answered with a non-zero result:
	// the connection stays in cleartext.
	Upgraded       bool `json:"upgraded" expr:"upgraded"`
	StartTLSFailed bool `json:"starttls_failed" expr:"starttls_failed"`
	// SASLLayer is true when, after a SASL bind, the stream became SASL-wrapped (a 4-byte
	// length then an integrity- or confidentiality-protected token): inspection stopped there.
	SASLLayer bool `json:"sasl_layer" expr:"sasl_layer"`

	// LDAPExtendedPart holds the extended requests other than StartTLS, which few flows send:
	// its fields are promoted, so the output and the policy name them as fields of
	// LDAPFacts. It is never nil: facts made by NewLDAPFacts share one empty block, read-only,
	// until a detector writes through ExtendedPart, which gives the flow its own block.
	*LDAPExtendedPart `expr:"-"`

	// Searches lists the search requests (the first 16); SearchCount is the total.
	Searches    []LDAPSearch `json:"searches,omitempty" expr:"searches"`
	SearchCount uint32       `json:"search_count" expr:"search_count"`
	// SPNSearch is true when a search named servicePrincipalName in its filter or its
	// attributes (typical Kerberoasting reconnaissance).
	SPNSearch bool `json:"spn_search" expr:"spn_search"`
}

// LDAPExtendedPart is the part of LDAPFacts about extended requests (see
// LDAPFacts.LDAPExtendedPart).
type LDAPExtendedPart struct {
	// Extended lists the extended requests other than StartTLS (the first 8).
	Extended      []LDAPExtended `json:"extended,omitempty" expr:"extended"`
	ExtendedCount uint32         `json:"extended_count" expr:"extended_count"`
	// PasswordModify is true when a Password Modify extended request (RFC 3062) carrying an
	// old or a new password was seen in cleartext.
	PasswordModify bool `json:"password_modify" expr:"password_modify"`
}

// noLDAPExtended is the empty LDAPExtendedPart of new facts. Nothing writes to it.
var noLDAPExtended LDAPExtendedPart

// ExtendedPart returns the flow's own LDAPExtendedPart, to write to: the first call on facts
// that share the empty block (or have none) gives them a block of their own.
func (l *LDAPFacts) ExtendedPart() *LDAPExtendedPart {
	return own(&l.LDAPExtendedPart, &noLDAPExtended)
}

// LDAPOps counts LDAP messages by operation (RFC 4511 protocolOp).
//
// The operations of a bind and of searches, which nearly every flow carries, are counted
// inline; the others (LDAPOpsRare) out of line, 48 bytes fewer in the facts of every flow.
type LDAPOps struct {
	BindRequest       uint32 `json:"bind_request,omitempty" expr:"bind_request"`
	BindResponse      uint32 `json:"bind_response,omitempty" expr:"bind_response"`
	UnbindRequest     uint32 `json:"unbind_request,omitempty" expr:"unbind_request"`
	SearchRequest     uint32 `json:"search_request,omitempty" expr:"search_request"`
	SearchResultEntry uint32 `json:"search_result_entry,omitempty" expr:"search_result_entry"`
	SearchResultDone  uint32 `json:"search_result_done,omitempty" expr:"search_result_done"`
	// LDAPOpsRare holds the counters of the operations few flows carry: its fields are
	// promoted, so the output and the policy name them as fields of LDAPOps. It is never nil:
	// facts made by NewLDAPFacts share one empty block, read-only, until a detector writes
	// through Rare, which gives the flow its own block.
	*LDAPOpsRare `expr:"-"`
}

// noLDAPOpsRare is the empty LDAPOpsRare every LDAPOps of NewLDAPFacts points to until it
// counts one of its operations. Nothing writes to it.
var noLDAPOpsRare LDAPOpsRare

// Rare returns the flow's own LDAPOpsRare, to write to: the first call on counters that share
// the empty block (or have none) gives them a block of their own.
func (o *LDAPOps) Rare() *LDAPOpsRare { return own(&o.LDAPOpsRare, &noLDAPOpsRare) }

// LDAPOpsRare is the part of LDAPOps that most flows leave at zero (see LDAPOps.LDAPOpsRare).
type LDAPOpsRare struct {
	SearchResultReference uint32 `json:"search_result_reference,omitempty" expr:"search_result_reference"`
	ModifyRequest         uint32 `json:"modify_request,omitempty" expr:"modify_request"`
	ModifyResponse        uint32 `json:"modify_response,omitempty" expr:"modify_response"`
	AddRequest            uint32 `json:"add_request,omitempty" expr:"add_request"`
	AddResponse           uint32 `json:"add_response,omitempty" expr:"add_response"`
	DelRequest            uint32 `json:"del_request,omitempty" expr:"del_request"`
	DelResponse           uint32 `json:"del_response,omitempty" expr:"del_response"`
	ModifyDNRequest       uint32 `json:"modify_dn_request,omitempty" expr:"modify_dn_request"`
	ModifyDNResponse      uint32 `json:"modify_dn_response,omitempty" expr:"modify_dn_response"`
	CompareRequest        uint32 `json:"compare_request,omitempty" expr:"compare_request"`
	CompareResponse       uint32 `json:"compare_response,omitempty" expr:"compare_response"`
	AbandonRequest        uint32 `json:"abandon_request,omitempty" expr:"abandon_request"`
	ExtendedRequest       uint32 `json:"extended_request,omitempty" expr:"extended_request"`
	ExtendedResponse      uint32 `json:"extended_response,omitempty" expr:"extended_response"`
	IntermediateResponse  uint32 `json:"intermediate_response,omitempty" expr:"intermediate_response"`
}

// LDAPBind is one BindRequest and, when seen, its BindResponse. Secrets are never stored: only
// whether one was present and its length.
type LDAPBind struct {
	Event            // the request
	MessageID int32  `json:"message_id" expr:"message_id"`
	Version   uint8  `json:"version" expr:"version"`
	DN        string `json:"dn" expr:"dn"` // the bind name, first 256 bytes
	// LDAPBindAuth holds the kind of the bind, one of five: its fields are promoted, so the
	// output and the policy name them as fields of LDAPBind. It is never nil and never
	// written: the binds of each kind share one read-only block.
	*LDAPBindAuth `expr:"-"`
	// PasswordPresent and PasswordLen describe the simple bind password.
	PasswordPresent bool  `json:"password_present" expr:"password_present"`
	PasswordLen     int32 `json:"password_len" expr:"password_len"`
	// Mechanism is the SASL mechanism (upper case for the registered ones; "NTLM" for sicily).
	Mechanism string `json:"mechanism,omitempty" expr:"mechanism"`
	// CredentialsPresent and CredentialsLen describe the SASL credentials of the request.
	CredentialsPresent bool  `json:"credentials_present" expr:"credentials_present"`
	CredentialsLen     int32 `json:"credentials_len" expr:"credentials_len"`
	// ReusablePassword is true when the credentials carry a reusable password (SASL PLAIN
	// with a non-empty password field, or LOGIN with credentials).
	ReusablePassword bool `json:"reusable_password" expr:"reusable_password"`

	// Answered is true when the BindResponse with the same message ID was seen. Result is its
	// result code (-1 until answered), ResultName its RFC 4511 name, Diagnostic the first 128
	// bytes of its diagnostic message (Active Directory puts "data 52e" there).
	Answered   bool   `json:"answered" expr:"answered"`
	Result     int32  `json:"result" expr:"result"`
	ResultName string `json:"result_name,omitempty" expr:"result_name"`
	Diagnostic string `json:"diagnostic,omitempty" expr:"diagnostic"`
	Response   Event  `json:"response" expr:"response"`
}

// LDAPBindAuth is how a bind authenticates (see LDAPBind.LDAPBindAuth).
type LDAPBindAuth struct {
	// Auth is the authentication choice: "simple", "sasl" or "sicily" (Microsoft NTLM).
	Auth string `json:"auth" expr:"auth"`
	// Kind is "anonymous" (simple, empty name and password), "unauthenticated" (simple, a
	// name and an empty password), "simple" (a password), "sasl" or "sicily".
	Kind string `json:"kind" expr:"kind"`
}

// LDAPStartTLS is a StartTLS extended operation and its outcome.
type LDAPStartTLS struct {
	Event             // the request
	MessageID  int32  `json:"message_id" expr:"message_id"`
	Answered   bool   `json:"answered" expr:"answered"`
	Result     int32  `json:"result" expr:"result"` // LDAP result code of the ExtendedResponse (-1 until answered)
	ResultName string `json:"result_name,omitempty" expr:"result_name"`
	Response   Event  `json:"response" expr:"response"`
	// Upgraded is true when the result was 0: TLS starts right after the response.
	Upgraded bool `json:"upgraded" expr:"upgraded"`
	// ClearAfter counts the LDAP messages seen in cleartext after a failed StartTLS.
	ClearAfter uint32 `json:"clear_after" expr:"clear_after"`
}

// LDAPExtended is an extended request other than StartTLS.
type LDAPExtended struct {
	Event
	MessageID int32  `json:"message_id" expr:"message_id"`
	OID       string `json:"oid" expr:"oid"`   // requestName, first 64 bytes
	Name      string `json:"name" expr:"name"` // "whoami", "password_modify", "cancel"... or ""
	// CarriesPassword is true for a Password Modify request with an old or new password.
	CarriesPassword bool  `json:"carries_password" expr:"carries_password"`
	Answered        bool  `json:"answered" expr:"answered"`
	Result          int32 `json:"result" expr:"result"` // -1 until answered
}

// LDAPSearch is one SearchRequest.
type LDAPSearch struct {
	Event
	MessageID int32  `json:"message_id" expr:"message_id"`
	Base      string `json:"base" expr:"base"` // baseObject, first 256 bytes
	// LDAPSearchNames holds the scope of the search, the attribute names it asked for and
	// those its filter named: its fields are promoted, so the output and the policy name them
	// as fields of LDAPSearch. It is never nil and never written: searches that ask the same
	// question (an application asks it again and again) share one read-only block, so a
	// search takes 72 bytes of its list instead of 136.
	*LDAPSearchNames `expr:"-"`
	// SPN is true when servicePrincipalName is in the filter or the attributes.
	SPN bool `json:"spn" expr:"spn"`
	// Entries counts the SearchResultEntry messages answering this search; Result is the
	// SearchResultDone result code (-1 until done).
	Entries  uint32 `json:"entries" expr:"entries"`
	Answered bool   `json:"answered" expr:"answered"`
	Result   int32  `json:"result" expr:"result"`
}

// LDAPSearchNames is the part of LDAPSearch that a search shares with others asking the same
// question: its scope and the attributes it names (see LDAPSearch.LDAPSearchNames). Once a
// search points to it, nothing writes to it.
type LDAPSearchNames struct {
	Scope string `json:"scope" expr:"scope"` // "base", "one", "sub", "subordinate"
	// Attributes are the first 8 attributes requested (64 bytes each); AttributeCount all.
	Attributes     []string `json:"attributes,omitempty" expr:"attributes"`
	AttributeCount int      `json:"attribute_count" expr:"attribute_count"`
	// FilterAttributes are the distinct attribute descriptions named by the filter (first 8).
	FilterAttributes []string `json:"filter_attributes,omitempty" expr:"filter_attributes"`
}

// noLDAPSearchNames is the empty block (no scope, no names). Nothing writes to it.
var noLDAPSearchNames LDAPSearchNames

// NoLDAPSearchNames returns the shared, read-only empty block.
func NoLDAPSearchNames() *LDAPSearchNames { return &noLDAPSearchNames }
