//go:build libpcap

package main

// libpcapBuild: this test binary has the libpcap backend (-tags libpcap).
const libpcapBuild = true
