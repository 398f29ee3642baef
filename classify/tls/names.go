package tls

import "strings"

// suiteInfo is what the facts say about a cipher suite.
type suiteInfo struct {
	name string
	kex  string
}

// suiteName returns the IANA name of a suite, or "0x%04X" for one the table does not know.
// It allocates only for unknown suites; it runs once per flow, at the hello.
func suiteName(c uint16) string {
	if n, ok := suites[c]; ok {
		return n
	}
	return hex4(c)
}

// suiteOf returns the name and key exchange of the selected suite.
func suiteOf(c uint16) suiteInfo {
	n := suiteName(c)
	return suiteInfo{name: n, kex: kexOf(c, n)}
}

// kexOf derives the key exchange from a suite's code and name (see flow.TLSFacts.Kex).
func kexOf(c uint16, name string) string {
	if c>>8 == 0x13 || c == 0x00C6 || c == 0x00C7 || c == 0xC0B4 || c == 0xC0B5 {
		return "tls13"
	}
	kx, ok := strings.CutPrefix(name, "TLS_")
	if !ok {
		return ""
	}
	if i := strings.Index(kx, "_WITH_"); i >= 0 {
		kx = kx[:i]
	} else {
		return "" // a signalling value (SCSV)
	}
	switch {
	case strings.Contains(kx, "anon"):
		return "anon"
	case strings.HasPrefix(kx, "ECDHE_PSK"):
		return "ecdhe_psk"
	case strings.HasPrefix(kx, "DHE_PSK"), strings.HasPrefix(kx, "PSK_DHE"):
		return "dhe_psk"
	case strings.HasPrefix(kx, "RSA_PSK"):
		return "rsa_psk"
	case strings.HasPrefix(kx, "PSK"):
		return "psk"
	case strings.HasPrefix(kx, "ECDHE"):
		return "ecdhe"
	case strings.HasPrefix(kx, "DHE"):
		return "dhe"
	case strings.HasPrefix(kx, "ECDH_"):
		return "ecdh"
	case strings.HasPrefix(kx, "DH_"):
		return "dh"
	case strings.HasPrefix(kx, "RSA"):
		return "rsa"
	case strings.HasPrefix(kx, "KRB5"):
		return "krb5"
	case strings.HasPrefix(kx, "SRP"):
		return "srp"
	case strings.HasPrefix(kx, "ECCPWD"):
		return "eccpwd"
	case strings.HasPrefix(kx, "GOST"):
		return "gost"
	case kx == "NULL":
		return "null"
	}
	return ""
}

// hex4 formats a 16-bit code as "0x%04X" without fmt.
func hex4(c uint16) string {
	const digits = "0123456789ABCDEF"
	b := [6]byte{'0', 'x', digits[c>>12], digits[c>>8&15], digits[c>>4&15], digits[c&15]}
	return string(b[:])
}

// versionName returns the ECS version and version_protocol of a wire version.
func versionName(v uint16) (version, protocol string) {
	switch v {
	case 0x0002:
		return "2.0", "ssl"
	case 0x0300:
		return "3.0", "ssl"
	case 0x0301:
		return "1.0", "tls"
	case 0x0302:
		return "1.1", "tls"
	case 0x0303:
		return "1.2", "tls"
	case 0x0304:
		return "1.3", "tls"
	}
	return hex4(v), "tls"
}

// isGREASE reports a GREASE value (RFC 8701): 0x0A0A, 0x1A1A, ... 0xFAFA.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// alertNames are the alert descriptions of RFC 8446 §6 and their predecessors.
var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
	41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
	44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
	47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
	51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
	90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
	110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
	115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}

// alertName names an alert description; unknown ones are "unknown".
func alertName(d uint8) string {
	if n, ok := alertNames[d]; ok {
		return n
	}
	return "unknown"
}
