// Package racedetect says whether the binary was built with the race detector. Tests that
// count allocations skip then: the race detector makes sync.Pool drop items at random, so
// pooled values (facts, findings, parser states, encoder buffers) are sometimes made again
// and the counts mean nothing.
package racedetect
