package main

import (
	"context"
	"io"

	"github.com/rs/zerolog"

	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
)

// readInputs feeds every input named on the command line to the audit, in order, and
// returns how many could not be read. Every command that reads capture files (the audit,
// summary) goes through it, so how inputs are found and ordered is decided here once.
func readInputs(ctx context.Context, a *audit.Audit, names []string, stdin io.Reader, log zerolog.Logger) (bad int) {
	for _, name := range names {
		if fs := a.File(ctx, name, stdin); fs.Err != "" {
			bad++
		}
		if ctx.Err() != nil {
			log.Warn().Msg("interrupted: reporting what was read so far")
			break
		}
	}
	return bad
}
