//go:build !race

package classify_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
