package flow

// NTPFacts is what the NTP detector read from a flow (owned by classify/ntp; see its README).
type NTPFacts struct {
	Version uint8 `json:"version" expr:"version"` // of the first NTP message
	Mode    uint8 `json:"mode" expr:"mode"`       // of the first NTP message
	// Modes has bit m set when a message of mode m was seen in either direction.
	Modes uint8 `json:"-" expr:"modes"`
	// First is where the first NTP message of the flow was seen.
	First Event `json:"first" expr:"first"`
}
