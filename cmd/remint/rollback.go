package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

func init() { register(newRollbackCmd) }

type rollbackOptions struct {
	file   string
	output string
}

func newRollbackCmd() *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback GROUP",
		Short: "Move a group's addresses back to the servers its last rebuild kept",
		Long: `Within the keep-old window of the group's last rollout (rollout.keep_old), move every
slot's failover address back to its previous server (revision-checked), record that
server as the slot's again, and delete the replacement. Slots whose old server is gone
are reported. Exit status 1 when any slot could not be rolled back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runRollback(ctx context.Context, stdout, stderr io.Writer, group string, o rollbackOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	pr := newEventPrinter(stdout, o.output)
	ex, err := env.executor(pr.Event)
	if err != nil {
		return err
	}
	res, err := ex.Rollback(ctx)
	if res.Rollout != "" {
		pr.summary(res, err)
	}
	return err
}
