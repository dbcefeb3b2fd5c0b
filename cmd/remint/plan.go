package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newPlanCmd) }

type planOptions struct {
	file   string
	image  string
	force  bool
	output string
	client clientOptions
}

func newPlanCmd() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan GROUP",
		Short: "Print the rebuild plan of a group without touching anything",
		Long: `Compute which slot of the group gets which image, in which wave and why, and print it.
Servers already on the target image are skipped unless --force. The target is the
family's latest active image unless --image names a version (or the group pins one).
Only read calls are made: nothing is created, moved or recorded. With --server URL the
daemon computes it (GET /v1/groups/GROUP/plan).`,
		Example: `  remint plan web
  remint plan web --image 2026.11.1 --output json
  remint plan web --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	cmd.Flags().StringVar(&o.image, "image", "", "target image version: latest or YYYY.MM.N (default: the group's image setting)")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace servers already on the target image too")
	outputFlag(cmd, &o.output, "text", "json")
	serverFlag(cmd, &o.client)
	return cmd
}

func runPlan(ctx context.Context, stdout, stderr io.Writer, group string, o planOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if err := checkTargetFlags(o.image, ""); err != nil {
		return err
	}
	if o.client.server != "" {
		c, err := o.client.client()
		if err != nil {
			return err
		}
		plan, err := c.Plan(ctx, group, orchestrator.PlanRequest{Image: o.image, Force: o.force})
		if err != nil {
			return serverError(err)
		}
		return printPlan(stdout, plan, o.output)
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	deps, err := env.groupDeps("remint plan "+group, 0, nil, nil)
	if err != nil {
		return err
	}
	res, err := failover.Rebuild(ctx, deps, failover.RebuildRequest{Image: o.image, Force: o.force, DryRun: true})
	if err != nil {
		return classify(err)
	}
	return printPlan(stdout, *res.Plan, o.output)
}

// printPlan prints a plan as text or JSON.
func printPlan(stdout io.Writer, plan failover.Plan, output string) error {
	if output == "json" {
		return writeJSON(stdout, plan)
	}
	_, err := fmt.Fprint(stdout, plan.String())
	return err
}
