// Command pcapaudit audits packet captures: it follows every flow, labels the NTP, SIP,
// SIP-TLS, LDAP and LDAPS ones by their content, and reports the insecure variants the policy
// flags. Run `pcapaudit --help` for usage and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in --help and in the README.
const (
	exitOK       = 0 // no finding reached --fail-on
	exitFindings = 1 // at least one finding reached --fail-on
	exitError    = 2 // usage error, unreadable input, not a capture, bad policy
)

// exitErr carries an exit code up to main. Its error, if any, is printed on one line.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitErr) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code. Tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "pcapaudit: %v\n", ee.err)
		}
		return ee.code
	}
	// Anything else comes from flag parsing or argument checks: a usage error.
	fmt.Fprintf(stderr, "pcapaudit: %v\n", err)
	fmt.Fprintln(stderr, "Run 'pcapaudit --help' for usage.")
	return exitError
}
