package flow

// SIPFacts is what the SIP detector read from a flow (owned by classify/sip; see its README).
type SIPFacts struct {
	// Method of the first request ("REGISTER"), empty if only responses were seen.
	Method string `json:"method,omitempty" expr:"method"`
	// Messages counts the SIP messages parsed on the flow.
	Messages uint32 `json:"messages" expr:"messages"`
	First    Event  `json:"first" expr:"first"`
}
