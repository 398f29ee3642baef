package main

import (
	"context"
	"io"
	"strings"

	"github.com/rs/zerolog"

	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
	"github.com/pcapaudit/pcapaudit/cmd/internal/triage"
)

// inputSet is what the command line names to read: the captures found (directories walked,
// other files skipped with one warning each), and whether they are read as one capture merged
// in packet time (a directory, or several inputs) or as the one file given.
type inputSet struct {
	names  []string
	merged bool
}

// expandInputs finds the captures the command line names. Every command that reads capture
// files (the audit, summary) goes through it and readInputs, so how inputs are found and
// ordered is decided here once.
func expandInputs(files []string, log zerolog.Logger) (inputSet, error) {
	names, dirs := triage.Expand(files, func(name, why string) {
		log.Warn().Str("file", name).Msgf("%s: skipped, %s", name, why)
	})
	if dirs > 0 && len(names) == 0 {
		return inputSet{}, usageErr("no capture file found in %s", strings.Join(files, ", "))
	}
	return inputSet{names: names, merged: dirs > 0 || len(names) > 1}, nil
}

// readInputs feeds the inputs to the audit and returns how many could not be read.
func readInputs(ctx context.Context, a *audit.Audit, in inputSet, stdin io.Reader, log zerolog.Logger) (bad int) {
	if in.merged {
		for _, fs := range a.Merge(ctx, in.names, stdin) {
			if fs.Err != "" {
				bad++
			}
		}
	} else if fs := a.File(ctx, in.names[0], stdin); fs.Err != "" {
		bad++
	}
	if ctx.Err() != nil {
		log.Warn().Msg("interrupted: reporting what was read so far")
	}
	return bad
}
