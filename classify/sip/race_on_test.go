//go:build race

package sip

// raceEnabled: the race detector makes sync.Pool drop items at random, so the parser a UDP
// flow borrows for each datagram is sometimes made again; allocation counts mean nothing then.
const raceEnabled = true
