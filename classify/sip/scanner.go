package sip

// scanners are the User-Agent markers of SIP scanning and brute-forcing tools. The policy
// may keep its own list over user_agent; this one sets the scanner fact. sipsak and SIPp are
// legitimate test tools and are not listed.
var scanners = [...]struct {
	marker string // lower case
	prefix bool   // match only at the start of the User-Agent (short, ambiguous markers)
	name   string
}{
	{"friendly-scanner", false, "friendly-scanner"}, // SIPVicious svmap/svwar default
	{"sipvicious", false, "sipvicious"},
	{"sip-scan", false, "sip-scan"},
	{"sipscan", false, "sipscan"},
	{"sipptk", false, "sipptk"},
	{"iwar", false, "iWar"},
	{"sundayddr", false, "sundayddr"},
	{"vaxsipuseragent", false, "VaxSIPUserAgent"},
	{"sipcli", false, "sipcli"},
	{"pplsip", false, "pplsip"},
	{"sipbomber", false, "sipbomber"},
	{"smap", true, "smap"},
}

// scannerName returns the name of the scanner whose marker the User-Agent ua carries, or "".
func scannerName(ua []byte) string {
	ua = clip(ua, 256)
	for _, s := range scanners {
		if s.prefix && hasPrefixFold(ua, s.marker) || !s.prefix && containsFold(ua, s.marker) {
			return s.name
		}
	}
	return ""
}
