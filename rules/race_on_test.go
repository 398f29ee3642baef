//go:build race

package rules

// raceEnabled: the race detector makes sync.Pool drop items at random, so pooled findings
// are sometimes made again; allocation counts mean nothing then.
const raceEnabled = true
