package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise the module
// version from the build information is used.
var version = ""

// shortVersion is the version alone ("v1.2.3", or "(devel)" for a build from a checkout), as
// a sensor's documents carry it in observer.version.
func shortVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); v == "" && ok {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}

func versionString() string {
	info, ok := debug.ReadBuildInfo()
	s := "pcapaudit " + shortVersion()
	if ok {
		var rev, when, dirty string
		for _, kv := range info.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.time":
				when = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
		if rev != "" {
			s += fmt.Sprintf(", commit %.12s%s", rev, dirty)
		}
		if when != "" {
			s += ", " + when
		}
		s += ", " + info.GoVersion
	}
	return s
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, versionString())
			return err
		},
	}
}
