package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pcapaudit/pcapaudit/rules"
)

func newPolicyCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Print the default policy (copy it, edit it, use it with --policy)",
		Long: `Print the default policy, embedded in the binary, as YAML.

Save it, edit it, and pass the file with --policy: the file replaces the default
policy (it is not merged with it). 'pcapaudit policy check FILE' validates a file.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := stdout.Write(rules.Default().Source)
			return err
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy file",
		Long: `Load a policy file and compile every rule, as an audit would.

Exit code 0 when the policy is valid, 2 with one line naming the file, the line and
the rule when it is not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			p, err := rules.LoadFile(args[0])
			if err != nil {
				return &exitErr{code: exitError, err: err}
			}
			_, err = fmt.Fprintf(stdout, "%s: ok, %d rules\n", args[0], len(p.Rules))
			return err
		},
	})
	return cmd
}
