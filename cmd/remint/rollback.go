package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/failover"
)

func init() { register(newRollbackCmd) }

type rollbackOptions struct {
	file     string
	output   string
	waitLock time.Duration
	command  string
	client   clientOptions // queue a rollback job on this daemon and follow it
}

func newRollbackCmd() *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback GROUP",
		Short: "Move a group's addresses back to the servers its last rebuild kept",
		Long: `Within the keep-old window of the group's last rollout (rollout.keep_old), move every
slot's failover address back to its previous server (revision-checked), record that
server as the slot's again, and delete the replacement. Slots whose old server is gone
are reported. Exit status 1 when any slot could not be rolled back, or when another
command is changing the group (see --wait-lock).

With --server URL the daemon does it: a rollback job is queued (POST
/v1/groups/GROUP/rollback) and its events are printed until it ends.`,
		Example: `  remint rollback web
  remint rollback web --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.command = commandLine(cmd, args)
			return runRollback(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	waitLockFlag(cmd, &o.waitLock)
	outputFlag(cmd, &o.output, "text", "json")
	serverFlag(cmd, &o.client)
	return cmd
}

func runRollback(ctx context.Context, stdout, stderr io.Writer, group string, o rollbackOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if o.client.server != "" {
		if o.waitLock != 0 {
			return localOnlyf("--wait-lock and --server: the daemon's job waits for the group's lease by itself")
		}
		c, err := o.client.client()
		if err != nil {
			return err
		}
		j, err := c.Rollback(ctx, group)
		if err != nil {
			return serverError(err)
		}
		return followJob(ctx, c, j, stdout, o.output)
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	pr := newEventPrinter(stdout, o.output)
	deps, err := env.groupDeps(orCommand(o.command, "remint rollback "+group), o.waitLock, pr.Event, nil)
	if err != nil {
		return err
	}
	res, err := failover.RollbackGroup(ctx, deps)
	if res.Rollout != "" {
		pr.summary(res, err)
	}
	return classify(err)
}
