package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
)

func init() { register(newPlanCmd) }

type planOptions struct {
	file   string
	image  string
	force  bool
	output string
}

func newPlanCmd() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan GROUP",
		Short: "Print the rebuild plan of a group without touching anything",
		Long: `Compute which slot of the group gets which image, in which wave and why, and print it.
Servers already on the target image are skipped unless --force. The target is the
family's latest active image unless --image names a version (or the group pins one).
Only read calls are made: nothing is created, moved or recorded.`,
		Example: `  remint plan web
  remint plan web --image 2026.11.1 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	cmd.Flags().StringVar(&o.image, "image", "", "target image version: latest or YYYY.MM.N (default: the group's image setting)")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace servers already on the target image too")
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runPlan(ctx context.Context, stdout, stderr io.Writer, group string, o planOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if err := checkTargetFlags(o.image, ""); err != nil {
		return err
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	return printPlan(ctx, stdout, env, o.image, o.force, o.output)
}

// printPlan computes the group's plan and prints it as text or JSON.
func printPlan(ctx context.Context, stdout io.Writer, env *groupEnv, image string, force bool, output string) error {
	plan, err := computePlan(ctx, env, image, force)
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(stdout, plan)
	}
	_, err = fmt.Fprint(stdout, plan.String())
	return err
}

// computePlan resolves the target and plans against the group's current servers.
func computePlan(ctx context.Context, env *groupEnv, image string, force bool) (failover.Plan, error) {
	ex, err := env.executor(nil)
	if err != nil {
		return failover.Plan{}, err
	}
	if err := ex.RequireRecorded(ctx); err != nil {
		return failover.Plan{}, err
	}
	target, err := resolveTarget(ctx, catalog.New(env.cloud), env.cloud, env.spec, image)
	if err != nil {
		return failover.Plan{}, err
	}
	return ex.Plan(ctx, target, force)
}
