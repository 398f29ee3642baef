// Package netnstest gives a test a private network namespace holding a veth pair, so that
// live-capture tests can send frames into one end and capture them on the other without
// touching the host's interfaces. The namespace's links have an MTU of 9000 (the project's
// loopback captures hold frames past 1500 bytes) and no IPv6, so nothing but what the test
// sends crosses them: no router solicitation, no duplicate address detection, no MLD.
//
// New skips the test when it does not run as root or when ip (iproute2) is missing; the
// namespace and its links are removed when the test ends.
//
// It exists for tests only: no package may import it from a non-test file. Linux only.
package netnstest
