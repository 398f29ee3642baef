package ldap

import "bytes"

// Protocol operations (the number of the [APPLICATION n] tag of protocolOp, RFC 4511 §4.2).
const (
	opBindRequest           = 0
	opBindResponse          = 1
	opUnbindRequest         = 2
	opSearchRequest         = 3
	opSearchResultEntry     = 4
	opSearchResultDone      = 5
	opModifyRequest         = 6
	opModifyResponse        = 7
	opAddRequest            = 8
	opAddResponse           = 9
	opDelRequest            = 10
	opDelResponse           = 11
	opModifyDNRequest       = 12
	opModifyDNResponse      = 13
	opCompareRequest        = 14
	opCompareResponse       = 15
	opAbandonRequest        = 16
	opSearchResultReference = 19
	opExtendedRequest       = 23
	opExtendedResponse      = 24
	opIntermediateResponse  = 25
)

// opKind classifies each operation number: 0 unknown, else a known operation whose encoding is
// primitive or constructed and which is a request or a response.
const (
	kindRequest   = 1 << 0
	kindResponse  = 1 << 1
	kindPrimitive = 1 << 2
	kindResult    = 1 << 3 // the body is an LDAPResult
)

var opKind = [32]uint8{
	opBindRequest:           kindRequest,
	opBindResponse:          kindResponse | kindResult,
	opUnbindRequest:         kindRequest | kindPrimitive,
	opSearchRequest:         kindRequest,
	opSearchResultEntry:     kindResponse,
	opSearchResultDone:      kindResponse | kindResult,
	opModifyRequest:         kindRequest,
	opModifyResponse:        kindResponse | kindResult,
	opAddRequest:            kindRequest,
	opAddResponse:           kindResponse | kindResult,
	opDelRequest:            kindRequest | kindPrimitive,
	opDelResponse:           kindResponse | kindResult,
	opModifyDNRequest:       kindRequest,
	opModifyDNResponse:      kindResponse | kindResult,
	opCompareRequest:        kindRequest,
	opCompareResponse:       kindResponse | kindResult,
	opAbandonRequest:        kindRequest | kindPrimitive,
	opSearchResultReference: kindResponse,
	opExtendedRequest:       kindRequest,
	opExtendedResponse:      kindResponse | kindResult,
	opIntermediateResponse:  kindResponse,
}

// validOpTag reports whether tag is the identifier of a known protocolOp with the right
// primitive/constructed form.
func validOpTag(tag byte) bool {
	if tag&0xc0 != 0x40 {
		return false
	}
	k := opKind[tag&0x1f]
	if k == 0 {
		return false
	}
	primitive := tag&0x20 == 0
	return primitive == (k&kindPrimitive != 0)
}

func isResponse(op byte) bool { return opKind[op&0x1f]&kindResponse != 0 }

// resultNames are the RFC 4511 §4.1.9 names (and later RFCs') of LDAP result codes.
var resultNames = map[int32]string{
	0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
	4: "sizeLimitExceeded", 5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported",
	8: "strongerAuthRequired", 10: "referral", 11: "adminLimitExceeded",
	12: "unavailableCriticalExtension", 13: "confidentialityRequired", 14: "saslBindInProgress",
	16: "noSuchAttribute", 17: "undefinedAttributeType", 18: "inappropriateMatching",
	19: "constraintViolation", 20: "attributeOrValueExists", 21: "invalidAttributeSyntax",
	32: "noSuchObject", 33: "aliasProblem", 34: "invalidDNSyntax",
	36: "aliasDereferencingProblem", 48: "inappropriateAuthentication", 49: "invalidCredentials",
	50: "insufficientAccessRights", 51: "busy", 52: "unavailable", 53: "unwillingToPerform",
	54: "loopDetect", 64: "namingViolation", 65: "objectClassViolation",
	66: "notAllowedOnNonLeaf", 67: "notAllowedOnRDN", 68: "entryAlreadyExists",
	69: "objectClassModsProhibited", 71: "affectsMultipleDSAs", 80: "other",
	118: "canceled", 119: "noSuchOperation", 120: "tooLate", 121: "cannotCancel",
	122: "assertionFailed", 123: "authorizationDenied",
}

// resultName returns the name of a result code ("" for an unregistered one). Reading a map
// does not allocate.
func resultName(code int32) string { return resultNames[code] }

// Result codes the detector acts on.
const (
	resultSuccess            = 0
	resultSASLBindInProgress = 14
	resultInvalidCredentials = 49
)

// SASL mechanisms, as registered with IANA (upper case).
var mechanisms = [...]string{
	"GSSAPI", "GSS-SPNEGO", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN", "EXTERNAL",
	"ANONYMOUS", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
	"SCRAM-SHA-512", "SCRAM-SHA-512-PLUS", "NTLM", "SRP", "OTP", "GS2-KRB5", "GS2-KRB5-PLUS",
	"OAUTHBEARER", "XOAUTH2", "EAP-AES128", "EAP-AES128-PLUS", "KERBEROS_V4", "SKEY", "SECURID",
	"9798-U-RSA-SHA1-ENC", "NMAS_LOGIN", "NMAS_AUTHEN", "GSS-SPNEGO-PLUS",
}

// mechanism returns the registered name of a SASL mechanism (matched case-insensitively), or
// ok false for an unknown one.
func mechanism(b []byte) (string, bool) {
	for _, m := range mechanisms {
		if bytes.EqualFold([]byte(m), b) {
			return m, true
		}
	}
	return "", false
}

// Extended operation OIDs.
const (
	oidStartTLS       = "1.3.6.1.4.1.1466.20037"
	oidPasswordModify = "1.3.6.1.4.1.4203.1.11.1"
)

var extendedNames = [...]struct{ oid, name string }{
	{oidStartTLS, "starttls"},
	{oidPasswordModify, "password_modify"},
	{"1.3.6.1.4.1.4203.1.11.3", "whoami"},
	{"1.3.6.1.1.8", "cancel"},
	{"1.3.6.1.4.1.1466.20036", "notice_of_disconnection"},
	{"1.3.6.1.1.21.1", "start_transaction"},
	{"1.3.6.1.1.21.3", "end_transaction"},
	{"1.3.6.1.4.1.4203.1.9.1.1", "sync"},
	{"1.2.840.113556.1.4.1781", "fast_bind"},
	{"1.3.6.1.4.1.26027.1.6.1", "password_policy_state"},
	{"1.3.6.1.4.1.4203.1.11.4", "dynamic_refresh"},
	{"1.3.6.1.4.1.1466.101.119.1", "dynamic_refresh"},
	{"2.16.840.1.113730.3.5.3", "start_replication"},
	{"2.16.840.1.113730.3.5.5", "end_replication"},
}

// extendedName returns the short name of a known extended operation OID ("" otherwise) and
// the OID as a constant string when it is known (so the caller need not allocate).
func extendedName(oid []byte) (name, known string) {
	for _, e := range extendedNames {
		if string(oid) == e.oid {
			return e.name, e.oid
		}
	}
	return "", ""
}

// scopeNames are the names of the search scopes (RFC 4511 SearchRequest.scope), by value.
var scopeNames = [...]string{"base", "one", "sub", "subordinate"}

// commonAttrs are attribute names that searches ask for again and again (the root DSE, Active
// Directory's CLDAP ping, user and group lookups): attrName returns them without allocating.
var commonAttrs = func() map[string]string {
	m := make(map[string]string)
	for _, a := range [...]string{
		"objectClass", "objectclass", "cn", "sn", "uid", "mail", "member", "memberOf", "memberUid",
		"sAMAccountName", "servicePrincipalName", "userPrincipalName", "distinguishedName",
		"displayName", "givenName", "description", "userAccountControl", "dNSHostName",
		"objectSid", "objectGUID", "pwdLastSet", "lastLogon", "uidNumber", "gidNumber",
		"namingContexts", "defaultNamingContext", "rootDomainNamingContext",
		"configurationNamingContext", "schemaNamingContext", "dnsHostName", "serverName",
		"supportedLDAPVersion", "supportedSASLMechanisms", "supportedControl",
		"supportedExtension", "supportedCapabilities", "subschemaSubentry", "currentTime",
		"isGlobalCatalogReady", "domainFunctionality", "forestFunctionality", "vendorName",
		"vendorVersion", "netlogon", "DnsDomain", "DnsHostName", "Host", "NtVer", "DomainSid",
		"DomainGuid", "User", "AAC", "1.1", "*", "+",
	} {
		m[a] = a
	}
	return m
}()

// attrName returns an attribute name as a kept fact: a common name without allocating, any
// other bounded to maxAttrLen bytes.
func attrName(b []byte) string {
	if s, ok := commonAttrs[string(b)]; ok {
		return s
	}
	return boundedShared(b, maxAttrLen)
}
