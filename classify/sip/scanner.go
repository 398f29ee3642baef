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

// markerStart marks the first bytes of the markers matched anywhere in a User-Agent.
var markerStart = func() (t [256]bool) {
	for _, s := range scanners {
		if !s.prefix {
			t[s.marker[0]] = true
		}
	}
	return t
}()

// scannerName returns the name of the scanner whose marker the User-Agent ua carries, or "";
// when it carries several, the first in the list. The User-Agent is read once, not once per
// marker.
func scannerName(ua []byte) string {
	ua = clip(ua, 256)
	best := len(scanners)
	for j, s := range scanners {
		if s.prefix && hasPrefixFold(ua, s.marker) {
			best = j
			break
		}
	}
	for i := 0; i < len(ua) && best > 0; i++ {
		c := lower(ua[i])
		if !markerStart[c] {
			continue
		}
		for j := 0; j < best; j++ {
			if s := &scanners[j]; !s.prefix && s.marker[0] == c && hasPrefixFold(ua[i:], s.marker) {
				best = j
				break
			}
		}
	}
	if best == len(scanners) {
		return ""
	}
	return scanners[best].name
}
