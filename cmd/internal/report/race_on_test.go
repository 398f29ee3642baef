//go:build race

package report

// raceEnabled: the race detector makes sync.Pool drop items at random, so the encoder's
// pooled buffers are sometimes allocated again; allocation counts mean nothing then.
const raceEnabled = true
