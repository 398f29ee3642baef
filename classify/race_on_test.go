//go:build race

package classify_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so pooled facts and
// detector states are sometimes made again; allocation counts mean nothing then.
const raceEnabled = true
