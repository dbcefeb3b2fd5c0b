package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/openstack"
)

func init() { register(newRebuildCmd) }

type rebuildOptions struct {
	file           string
	image          string
	strategy       string
	maxSurge       int
	maxUnavailable int
	dryRun         bool
	force          bool
	resume         bool
	output         string
}

func newRebuildCmd() *cobra.Command {
	var o rebuildOptions
	cmd := &cobra.Command{
		Use:   "rebuild GROUP",
		Short: "Replace a group's servers with new ones from the target image, moving addresses after health checks",
		Long: `Rebuild the group the immutable way: for each slot a replacement is created from the target
image (the family's latest active one unless --image says otherwise), waits for ACTIVE,
passes the health check, and only then gets the slot's failover address (one Neutron
update with the revision check); the address is checked, and the old server is kept for
keep_old and then deleted. A failure before the move deletes the replacement and leaves
traffic alone; a failed check after it moves the address back.

Every step is recorded in the state store before it is taken. If remint is interrupted
(even kill -9), running the same command again (or with --resume) finishes the unfinished
rollout first: servers it created are found by their remint_rollout tag.

A group with fewer servers than its count gets the missing ones (first deploy); failover
addresses with allocate_from are allocated then and remembered.

Exit status is 0 only when every slot is on the target image and healthy behind its
address; 1 when the rollout failed (the output says which slot and why); 2 for bad input.`,
		Example: `  remint rebuild web
  remint rebuild web --image 2026.11.1 --max-surge 2
  remint rebuild web --dry-run
  remint rebuild web --resume --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f := cmd.Flags(); !f.Changed("max-surge") {
				o.maxSurge = -1
			}
			if f := cmd.Flags(); !f.Changed("max-unavailable") {
				o.maxUnavailable = -1
			}
			return runRebuild(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	manifestFlag(cmd, &o.file)
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "target image version: latest or YYYY.MM.N (default: the group's image setting)")
	f.StringVar(&o.strategy, "strategy", "", "rolling or bluegreen (default: the group's rollout.strategy)")
	f.IntVar(&o.maxSurge, "max-surge", 0, "extra servers at a time (default: the group's rollout.max_surge)")
	f.IntVar(&o.maxUnavailable, "max-unavailable", 0, "slots without a serving server at a time (default: the group's rollout.max_unavailable)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and stop")
	f.BoolVar(&o.force, "force", false, "replace servers already on the target image too")
	f.BoolVar(&o.resume, "resume", false, "only finish an unfinished rollout; start no new one")
	outputFlag(cmd, &o.output, "text", "json")
	return cmd
}

func runRebuild(ctx context.Context, stdout, stderr io.Writer, group string, o rebuildOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if err := checkTargetFlags(o.image, o.strategy); err != nil {
		return err
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	if o.strategy != "" {
		env.spec.Strategy = o.strategy
	}
	if o.maxSurge >= 0 {
		env.spec.MaxSurge = o.maxSurge
	}
	if o.maxUnavailable >= 0 {
		env.spec.MaxUnavailable = o.maxUnavailable
	}
	if env.spec.Strategy == failover.StrategyBlueGreen && len(env.spec.Addresses) == 1 && o.strategy != "" {
		env.spec.AddressMode = failover.AddressGroup
	}
	if err := env.spec.Validate(); err != nil {
		return usageError{err}
	}

	if o.dryRun {
		return printPlan(ctx, stdout, env, o.image, o.force, o.output)
	}

	pr := newEventPrinter(stdout, o.output)
	ex, err := env.executorWith(pr.Event, pr.progress())
	if err != nil {
		return err
	}
	// Before any change: a state recording servers or addresses that are gone would
	// fail half-way; say what is missing and how to get out instead.
	if err := ex.RequireRecorded(ctx); err != nil {
		return err
	}
	if n, err := ex.RetireExpired(ctx, time.Now()); err != nil {
		return err
	} else if n > 0 {
		env.log.Info("retired old servers whose keep-old time is over", "group", group, "count", n)
	}

	unfinished, err := ex.Unfinished(ctx)
	if err != nil {
		return err
	}
	if unfinished != "" {
		res, err := ex.Run(ctx, unfinished)
		pr.summary(res, err)
		if err != nil {
			return interrupted(ctx, group, pr.shown(res, err))
		}
	} else if o.resume {
		env.log.Info("nothing to resume", "group", group)
		return nil
	}
	if o.resume {
		return nil
	}

	if err := refuseUnadopted(ctx, env, ex); err != nil {
		return err
	}
	target, err := resolveTarget(ctx, catalog.New(env.cloud), env.cloud, env.spec, o.image)
	if err != nil {
		return err
	}
	if plan, err := ex.Plan(ctx, target, o.force); err != nil {
		return err
	} else if len(plan.Work()) == 0 {
		pr.Event(failover.Event{Time: time.Now(), Group: group, Slot: -1, Step: "up-to-date",
			Message: fmt.Sprintf("every slot is on %s: nothing to do (--force replaces anyway)", target.Version)})
		return nil
	}
	_, id, err := ex.Prepare(ctx, target, o.force)
	if err != nil {
		return err
	}
	res, err := ex.Run(ctx, id)
	pr.summary(res, err)
	if err != nil {
		return interrupted(ctx, group, pr.shown(res, err))
	}
	return nil
}

// interrupted explains a stopped rollout: cancelled ones resume on the next run.
func interrupted(ctx context.Context, group string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; the rollout is recorded: run `remint rebuild %s` again to finish it: %w", group, err)
	}
	return err
}

// refuseUnadopted stops a first deploy into a group whose servers already exist but were
// never recorded: creating a second set beside them is never what was meant.
func refuseUnadopted(ctx context.Context, env *groupEnv, ex *failover.Executor) error {
	slots, err := env.store.Slots(ctx, env.spec.Group)
	if err != nil || len(slots) > 0 {
		return err
	}
	servers, err := env.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: env.spec.Group + "-"})
	if err != nil {
		return fmt.Errorf("list servers of group %s: %w", env.spec.Group, err)
	}
	var names []string
	for _, s := range servers {
		if _, ok := ex.SlotOf(s); ok {
			names = append(names, s.Name)
		}
	}
	if len(names) > 0 {
		return usageErrorf("group %s has servers in the cloud (%s) but none recorded in %s: run `remint group adopt %s` first, or delete them",
			env.spec.Group, strings.Join(names, ", "), env.m.StatePath(), env.spec.Group)
	}
	return nil
}
