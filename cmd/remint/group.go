package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newGroupCmd) }

func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Inspect server groups, take existing servers into them, forget records of gone ones",
	}
	cmd.AddCommand(newGroupAdoptCmd(), newGroupShowCmd(), newGroupForgetCmd())
	return cmd
}

type groupOptions struct {
	file     string
	output   string
	waitLock time.Duration // adopt, forget
	command  string
	client   clientOptions // show, adopt, forget: through the daemon's API
}

func newGroupAdoptCmd() *cobra.Command {
	var o groupOptions
	cmd := &cobra.Command{
		Use:   "adopt GROUP",
		Short: "Record the group's existing servers as its slots",
		Long: `Find the group's existing servers (named GROUP-N or GROUP-N-…, or tagged remint_group and
remint_slot) and record each as the server of its slot, so that the next rebuild replaces
them. Nothing in the cloud is changed. Slots without a server are reported; the next
rebuild creates them. Like rebuild it holds the group's lease (see --wait-lock).

With --server URL the daemon adopts them (POST /v1/groups/GROUP/adopt), holding the
group's lease the same way, and its log names the token that asked: the same output.`,
		Example: `  remint group adopt web
  remint group adopt db --output json
  remint group adopt web --wait-lock 5m --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.command = commandLine(cmd, args)
			return runGroupAdopt(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	waitLockFlag(cmd, &o.waitLock)
	outputFlag(cmd, &o.output, "text", "json")
	serverFlag(cmd, &o.client)
	return cmd
}

func runGroupAdopt(ctx context.Context, stdout, stderr io.Writer, group string, o groupOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	var res orchestrator.AdoptResult
	if o.client.server != "" {
		c, secs, err := o.client.changeClient(o.waitLock)
		if err != nil {
			return err
		}
		if res, err = c.AdoptGroup(ctx, group, orchestrator.AdoptRequest{WaitLockSeconds: secs}); err != nil {
			return serverError(err)
		}
		return printAdopt(stdout, o.output, res)
	}
	env, err := openGroupFor(ctx, o.file, group, stderr, true) // pets too: adopting rebuilds nothing
	if err != nil {
		return err
	}
	defer env.Close()
	deps, err := env.groupDeps(orCommand(o.command, "remint group adopt "+group), o.waitLock, nil, nil)
	if err != nil {
		return err
	}
	adopted, notes, err := failover.AdoptGroup(ctx, deps)
	if err != nil {
		return classify(err)
	}
	return printAdopt(stdout, o.output, orchestrator.NewAdoptResult(group, adopted, notes))
}

// printAdopt prints what adopt recorded: the same locally and through the daemon.
func printAdopt(stdout io.Writer, output string, res orchestrator.AdoptResult) error {
	if output == "json" {
		return writeJSON(stdout, res)
	}
	for _, a := range res.Adopted {
		fmt.Fprintf(stdout, "slot %s-%d: adopted server %s (%s), image %s\n", res.Group, a.Slot, a.ServerName, a.ServerID, orDash(a.ImageVersion))
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return nil
}

func newGroupShowCmd() *cobra.Command {
	var o groupOptions
	cmd := &cobra.Command{
		Use:   "show GROUP",
		Short: "Show the group's slots, servers, images, addresses and health",
		Long: `Show each slot of the group as the state records it, checked against the cloud: its
server, status, image version, fixed IP, failover address and whether the address points
at the slot's server, and one health probe of the server. Nothing is changed.

When the state records servers or addresses that no longer exist, they are shown as
MISSING / missing, one line per slot names them, and the exit status is 2: run
` + "`remint group forget GROUP`" + ` to drop those records.

With --server URL the daemon's API answers (GET /v1/groups/GROUP): the same output,
read by the daemon from its state and cloud.`,
		Example: `  remint group show web
  remint group show web --output json
  remint group show web --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGroupShow(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
	serverFlag(cmd, &o.client)
	return cmd
}

func runGroupShow(ctx context.Context, stdout, stderr io.Writer, group string, o groupOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	view, err := groupView(ctx, stderr, group, o)
	if err != nil {
		return err
	}
	st, pending := view.GroupStatus, view.PendingUpdates
	if o.output == "json" {
		if err := writeJSON(stdout, view); err != nil {
			return err
		}
		return st.Stale()
	}
	fmt.Fprintf(stdout, "group %s: %d slots", group, st.Count)
	if st.LatestRollout != "" {
		fmt.Fprintf(stdout, ", latest rollout %s (%s)", st.LatestRollout, st.RolloutStatus)
	}
	fmt.Fprintln(stdout)
	for _, v := range st.Slots {
		if v.ServerID == "" {
			fmt.Fprintf(stdout, "  %s-%d: no server\n", group, v.Slot)
			continue
		}
		fmt.Fprintf(stdout, "  %s-%d: %s %s %s image %s ip %s address %s (%s) %s", group, v.Slot, v.ServerName, short(v.ServerID), v.Status,
			orDash(v.ImageVersion), orDash(v.FixedIP), orDash(v.Address), orDash(v.AddressOn), v.Health)
		if n, ok := pending[v.ServerID]; ok {
			fmt.Fprintf(stdout, ", %d pending updates", n)
		}
		fmt.Fprintln(stdout)
	}
	for _, o := range st.Orphans {
		fmt.Fprintf(stdout, "  orphan: %s\n", o)
	}
	return st.Stale()
}

// groupView reads the group's status: through the daemon with --server, else from the
// state store and the cloud.
func groupView(ctx context.Context, stderr io.Writer, group string, o groupOptions) (orchestrator.GroupView, error) {
	if o.client.server != "" {
		c, err := o.client.client()
		if err != nil {
			return orchestrator.GroupView{}, err
		}
		v, err := c.Group(ctx, group)
		return v, serverError(err)
	}
	env, err := openGroupFor(ctx, o.file, group, stderr, true)
	if err != nil {
		return orchestrator.GroupView{}, err
	}
	defer env.Close()
	ex, err := env.executor(nil)
	if err != nil {
		return orchestrator.GroupView{}, err
	}
	st, err := ex.Status(ctx)
	if err != nil {
		return orchestrator.GroupView{}, err
	}
	// What the last in-place run left pending, per server id (absent until one looked).
	pending, err := inplace.PendingUpdates(ctx, env.store, group)
	if err != nil {
		return orchestrator.GroupView{}, err
	}
	return orchestrator.GroupView{GroupStatus: st, PendingUpdates: pending}, nil
}

type groupForgetOptions struct {
	groupOptions
	all bool
}

func newGroupForgetCmd() *cobra.Command {
	var o groupForgetOptions
	cmd := &cobra.Command{
		Use:   "forget GROUP [--all]",
		Short: "Drop the state records of the group's servers and addresses that no longer exist",
		Long: `Drop the records of the group's slot servers and failover addresses that the cloud no
longer has (the cloud was reset, or they were deleted behind remint's back), so the next
rebuild creates servers and allocates addresses afresh instead of failing half-way. With
--all every record of the group is dropped, and an unfinished rollout is marked failed:
servers and addresses that still exist keep running, no longer managed by remint (adopt
them again with ` + "`remint group adopt`" + `). Nothing in the cloud is changed. It holds the
group's lease (see --wait-lock); a group that is not replaceable is refused.

With --server URL the daemon drops them (POST /v1/groups/GROUP/forget), holding the
group's lease the same way, and its log names the token that asked: the same output.`,
		Example: `  remint group forget web
  remint group forget web --all --output json
  remint group forget web --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.command = commandLine(cmd, args)
			return runGroupForget(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	waitLockFlag(cmd, &o.waitLock)
	outputFlag(cmd, &o.output, "text", "json")
	serverFlag(cmd, &o.client)
	cmd.Flags().BoolVar(&o.all, "all", false, "drop every record of the group, also of servers and addresses that still exist")
	return cmd
}

func runGroupForget(ctx context.Context, stdout, stderr io.Writer, group string, o groupForgetOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if o.client.server != "" {
		c, secs, err := o.client.changeClient(o.waitLock)
		if err != nil {
			return err
		}
		res, err := c.ForgetGroup(ctx, group, orchestrator.ForgetRequest{All: o.all, WaitLockSeconds: secs})
		if err = serverError(err); err != nil && isUsage(err) {
			return err // bad input: nothing was attempted, nothing printed (as locally)
		}
		if err != nil {
			res = orchestrator.NewForgetResult(group, nil) // the error says what was dropped
		}
		return printForget(stdout, o.output, res, o.all, err)
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	// Forget needs no health checks (and so no SSH key for command checks); it holds the
	// group's lease, so a command changing the group refuses it at once.
	deps, err := env.recordDeps(orCommand(o.command, "remint group forget "+group), o.waitLock)
	if err != nil {
		return err
	}
	forgotten, err := failover.ForgetGroup(ctx, deps, o.all)
	err = printForget(stdout, o.output, orchestrator.NewForgetResult(group, forgotten), o.all, classify(err))
	if err == nil && len(forgotten) > 0 {
		env.log.Info("state records forgotten", "group", group, "count", len(forgotten), "all", o.all)
	}
	return err
}

// printForget prints what forget dropped, also when it failed half-way, and returns err:
// the same locally and through the daemon.
func printForget(stdout io.Writer, output string, res orchestrator.ForgetResult, all bool, err error) error {
	group := res.Group
	if output == "json" {
		if werr := writeJSON(stdout, res); werr != nil && err == nil {
			return werr
		}
		return err
	}
	for _, f := range res.Forgotten {
		fmt.Fprintf(stdout, "%s-%d: %s\n", group, f.Slot, f)
	}
	if err != nil {
		return err
	}
	if len(res.Forgotten) == 0 && all {
		fmt.Fprintf(stdout, "group %s: the state holds no records of it; nothing to forget\n", group)
		return nil
	}
	if len(res.Forgotten) == 0 {
		fmt.Fprintf(stdout, "group %s: every recorded server and address exists; nothing to forget (--all drops every record)\n", group)
		return nil
	}
	fmt.Fprintf(stdout, "group %s: %d records dropped; nothing in the cloud was changed. The next `remint rebuild %s` creates servers and allocates addresses afresh.\n", group, len(res.Forgotten), group)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
