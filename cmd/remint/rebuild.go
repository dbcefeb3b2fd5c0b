package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newRebuildCmd) }

type rebuildOptions struct {
	file           string
	image          string
	strategy       string
	maxSurge       int
	maxUnavailable int
	surgeSet       bool // --max-surge given (else the group's rollout.max_surge)
	unavailSet     bool // --max-unavailable given
	dryRun         bool
	force          bool
	resume         bool
	waitLock       time.Duration
	output         string
	command        string        // the command line, shown to a command refused the group's lease
	client         clientOptions // queue a rebuild job on this daemon and follow it
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

One command at a time changes a group: rebuild, rollback and group adopt take the
group's lease in the state store first (renewed while they run, expiring within 30s
when the holder dies; $REMINT_LEASE_TTL changes that). A second command is refused at
once, naming the holder, or waits up to --wait-lock.

Every step is recorded in the state store before it is taken. If remint is interrupted
(even kill -9), running the same command again (or with --resume) finishes the unfinished
rollout first, once the lease of the interrupted command is free (released, or expired
after kill -9): servers it created are found by their remint_rollout tag.

Servers tagged with the group that no slot records and nothing keeps for rollback
(orphans, listed by group show) are deleted once older than the health deadline plus
the lease TTL.

A group with fewer servers than its count gets the missing ones (first deploy); failover
addresses with allocate_from are allocated then and remembered.

With --server URL the daemon does the rebuild: a rebuild job is queued (POST
/v1/groups/GROUP/rebuild) and its events are printed as the daemon records them until
it ends; --dry-run prints the daemon's plan. Interrupting the command leaves the job
running (remint job cancel ID stops it).

Exit status is 0 only when every slot is on the target image and healthy behind its
address; 1 when the rollout failed (the output says which slot and why); 2 for bad input.`,
		Example: `  remint rebuild web
  remint rebuild web --image 2026.11.1 --max-surge 2
  remint rebuild web --dry-run
  remint rebuild web --resume --output json
  remint rebuild web --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.surgeSet, o.unavailSet = cmd.Flags().Changed("max-surge"), cmd.Flags().Changed("max-unavailable")
			o.command = commandLine(cmd, args)
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
	waitLockFlag(cmd, &o.waitLock)
	outputFlag(cmd, &o.output, "text", "json")
	serverFlag(cmd, &o.client)
	return cmd
}

func runRebuild(ctx context.Context, stdout, stderr io.Writer, group string, o rebuildOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if err := checkTargetFlags(o.image, o.strategy); err != nil {
		return err
	}
	req := failover.RebuildRequest{Image: o.image, Strategy: o.strategy, Force: o.force, Resume: o.resume, DryRun: o.dryRun}
	if o.surgeSet {
		if o.maxSurge < 0 {
			return usageErrorf("--max-surge %d: must not be negative", o.maxSurge)
		}
		req.MaxSurge = &o.maxSurge
	}
	if o.unavailSet {
		if o.maxUnavailable < 0 {
			return usageErrorf("--max-unavailable %d: must not be negative", o.maxUnavailable)
		}
		req.MaxUnavailable = &o.maxUnavailable
	}
	if o.client.server != "" {
		return runRebuildOnServer(ctx, stdout, group, req, o)
	}
	env, err := openGroup(ctx, o.file, group, stderr)
	if err != nil {
		return err
	}
	defer env.Close()

	pr := newEventPrinter(stdout, o.output)
	sink, progress := pr.Event, pr.progress()
	if o.dryRun {
		sink, progress = nil, nil
	}
	deps, err := env.groupDeps(orCommand(o.command, "remint rebuild "+group), o.waitLock, sink, progress)
	if err != nil {
		return err
	}
	res, err := failover.Rebuild(ctx, deps, req)
	if o.dryRun {
		if err != nil {
			return classify(err)
		}
		return printPlan(stdout, *res.Plan, o.output)
	}
	if res.Resumed != nil {
		var resumeErr error
		if res.Resumed.Status != store.RolloutCompleted {
			resumeErr = err
		}
		pr.summary(*res.Resumed, resumeErr)
	}
	if res.Rollout != nil {
		pr.summary(*res.Rollout, err)
		err = pr.shown(*res.Rollout, err) // its slots' errors are printed: say them once
	} else if res.Resumed != nil {
		err = pr.shown(*res.Resumed, err)
	}
	if err != nil && (res.Resumed != nil || res.Rollout != nil) {
		err = interrupted(ctx, group, err)
	}
	return classify(err)
}

// interrupted explains a stopped rollout: cancelled ones resume on the next run, and so
// do those whose process lost the group's lease.
func interrupted(ctx context.Context, group string, err error) error {
	switch {
	case errors.Is(err, lease.ErrLost):
		return fmt.Errorf("stopped: the group's lease was lost (another command may change the group now); the rollout is recorded: `remint rebuild %s` finishes it once the lease is free: %w", group, err)
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted; the rollout is recorded: run `remint rebuild %s` again to finish it: %w", group, err)
	}
	return err
}

func orCommand(cmd, fallback string) string {
	if cmd == "" {
		return fallback
	}
	return cmd
}

// runRebuildOnServer queues a rebuild job on the daemon and follows it (--dry-run: prints
// the daemon's plan).
func runRebuildOnServer(ctx context.Context, stdout io.Writer, group string, req failover.RebuildRequest, o rebuildOptions) error {
	switch {
	case o.resume:
		return localOnlyf("--resume and --server: the daemon's rebuild job finishes an unfinished rollout first by itself")
	case o.waitLock != 0:
		return localOnlyf("--wait-lock and --server: the daemon's job waits for the group's lease by itself")
	}
	c, err := o.client.client()
	if err != nil {
		return err
	}
	if o.dryRun {
		plan, err := c.Plan(ctx, group, orchestrator.PlanRequest{Image: req.Image, Force: req.Force})
		if err != nil {
			return serverError(err)
		}
		return printPlan(stdout, plan, o.output)
	}
	j, err := c.Rebuild(ctx, group, orchestrator.RebuildOptions{Image: req.Image, Strategy: req.Strategy,
		MaxSurge: req.MaxSurge, MaxUnavailable: req.MaxUnavailable, Force: req.Force})
	if err != nil {
		return serverError(err)
	}
	return followJob(ctx, c, j, stdout, o.output)
}
