package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newDeployCmd) }

type deployOptions struct {
	file     string
	output   string
	opts     orchestrator.Options
	rebuild  bool
	inPlace  bool
	dryRun   bool
	identity string
	waitLock time.Duration
	// window is --maintenance-window in hours (0: none).
	window int
	// client queues the deploy through a daemon (--server), with its token and CA.
	client clientOptions
}

func newDeployCmd() *cobra.Command {
	var o deployOptions
	cmd := &cobra.Command{
		Use:   "deploy TARGET…",
		Short: "Deploy with options (the CI entry point): the policy picks rebuild or in place per group, then runs it",
		Long: `For each target group, gather the facts (replaceable, the family's latest active image,
failover addresses, compute quota against the surge) and let the rebuild-first policy choose:
a rebuild onto the latest image (through failover: new servers, health, address moves), or
the options in place (security upgrades, reboot if required, Docker, Weave) for pets, groups
without an image, without quota for the surge or behind no failover address. Each decision
is printed with its reason; --dry-run stops there. --rebuild / --in-place force the choice.

--server URL queues the deploy through a daemon instead (remint serve): one job per target
(update, or rebuild / inplace when forced), followed until each ends, with the same exit
status.

--maintenance-window H bounds the disruption to the next H hours (1 to 24): once the
window closes no new server replacement (rebuild) or server (in place) starts; what is
under way finishes, the target fails saying what was left, and a rebuild's rollout stays
recorded for the next run (deploy or rebuild) to resume.

Exit status: 0 every target succeeded (or was skipped, with why), 1 something ran and
failed, 2 bad input (nothing ran).`,
		Example: `  remint deploy web db --apply-security-upgrades --reboot-if-required --dry-run
  remint deploy web --output json
  remint deploy db --in-place --apply-security-upgrades -i ~/.ssh/remint
  remint deploy web db --apply-security-upgrades --maintenance-window 4
  remint deploy web --server http://127.0.0.1:8440 --maintenance-window 2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd.Context(), cmd, args, o)
		},
	}
	f := cmd.Flags()
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
	f.BoolVar(&o.opts.ApplySecurityUpgrades, "apply-security-upgrades", false, "in place: install pending security updates (only those)")
	f.BoolVar(&o.opts.RebootIfRequired, "reboot-if-required", false, "in place: reboot servers whose upgrades need it (otherwise never)")
	f.BoolVar(&o.opts.ApplyDockerUpgrades, "apply-docker-upgrades", false, "in place: upgrade docker.io to the family's pinned version")
	f.BoolVar(&o.opts.ApplyWeaveUpgrades, "apply-weave-upgrades", false, "in place: upgrade Weave Net to the family's pinned script")
	f.BoolVar(&o.rebuild, "rebuild", false, "force a rebuild (refused for pets and groups without an image)")
	f.BoolVar(&o.inPlace, "in-place", false, "force in place (needs an in-place option)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the decisions and change nothing")
	f.IntVar(&o.window, "maintenance-window", 0, "hours (1 to 24) from now after which no new disruptive step starts")
	o.client.flags(cmd, "queue the deploy through the daemon at this URL ($REMINT_SERVER): a job per target, followed until it ends")
	f.StringVarP(&o.identity, "identity", "i", "", "private key file for SSH, for in-place work (default $REMINT_SSH_KEY)")
	waitLockFlag(cmd, &o.waitLock)
	return cmd
}

func runDeploy(ctx context.Context, cmd *cobra.Command, targets []string, o deployOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	force := orchestrator.ForceNone
	switch {
	case o.rebuild && o.inPlace:
		return usageErrorf("--rebuild and --in-place: choose one")
	case o.rebuild:
		force = orchestrator.ForceRebuild
	case o.inPlace:
		force = orchestrator.ForceInPlace
	}
	if o.waitLock < 0 {
		return usageErrorf("--wait-lock %s: must not be negative", o.waitLock)
	}
	if cmd.Flags().Changed("maintenance-window") && (o.window < 1 || o.window > 24) {
		return usageErrorf("--maintenance-window %d: want 1 to 24 hours", o.window)
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t] {
			return usageErrorf("target %s given twice", t)
		}
		seen[t] = true
	}
	if o.client.server != "" {
		return runDeployServer(ctx, stdout, targets, o, force)
	}
	log, err := newLogger(stderr)
	if err != nil {
		return err
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if _, ok := m.Groups[t]; !ok {
			return usageErrorf("group %q is not in %s (groups: %s)", t, m.Path, strings.Join(m.GroupNames(), ", "))
		}
	}
	cl, err := connectCloud(ctx, m, log)
	if err != nil {
		return err
	}
	d := &deployEnv{m: m, cloud: cl, log: log, command: commandLine(cmd, targets), wait: o.waitLock}
	if o.output == "text" {
		d.out = stdout // progress as rebuild and inplace print it; JSON gets one report, events go to the log
	}
	deps := orchestrator.DeployDeps{Facts: d.facts, Rebuild: d.rebuild, InPlace: d.inplace, Now: time.Now}
	rep, err := orchestrator.Deploy(ctx, deps, orchestrator.DeployRequest{Targets: targets, Force: force, Options: o.opts, DryRun: true})
	var refused *orchestrator.DecideError
	if errors.As(err, &refused) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if !o.dryRun {
		for _, dec := range rep.Decisions {
			if dec.Action == orchestrator.ActionInPlace && d.signer == nil {
				if d.signer, err = remote.LoadSigner(o.identity); err != nil {
					return usageError{fmt.Errorf("--identity (target %s is patched in place over SSH): %w", dec.Target, err)}
				}
			}
		}
		if o.output == "text" {
			fmt.Fprint(stdout, rep.Decisions)
		}
		if d.st, err = openStore(ctx, m); err != nil {
			return err
		}
		defer d.st.Close()
		if o.window > 0 {
			end := time.Now().Add(time.Duration(o.window) * time.Hour)
			ctx = orchestrator.WithWindowEnd(ctx, end)
			if o.output == "text" {
				fmt.Fprintf(stdout, "maintenance window: until %s (%dh): no new disruptive step starts after it\n", end.UTC().Format(time.RFC3339), o.window)
			}
		}
		rep, err = orchestrator.Execute(ctx, deps, rep, o.opts)
	}
	if o.output == "json" {
		if werr := writeJSON(stdout, rep); werr != nil {
			return werr
		}
		return classify(err)
	}
	if o.dryRun {
		fmt.Fprint(stdout, rep.Decisions)
		return nil
	}
	fmt.Fprintln(stdout, "results:")
	for _, t := range rep.Targets {
		line := fmt.Sprintf("  %s: %s %s", t.Target, t.Decision, t.Result)
		switch t.Decision {
		case orchestrator.ActionRebuild:
			if t.Created > 0 {
				line += fmt.Sprintf(", %d servers created", t.Created)
			}
			line += fmt.Sprintf(", %d servers replaced, rollouts %s", t.Replaced, orDash(strings.Join(t.Rollouts, " ")))
		case orchestrator.ActionInPlace:
			line += fmt.Sprintf(", run %s, %d updates installed, %d failed, %d reboots (downtime %s)", orDash(t.InPlaceRun), t.UpdatesInstalled, t.UpdatesFailed, t.Reboots, t.Downtime.Round(time.Millisecond))
		}
		if t.Error != "" {
			line += ": " + t.Error
		}
		fmt.Fprintln(stdout, line)
	}
	return classify(err)
}

// deployEnv wires a deploy's use cases: the policy's facts, failover.Rebuild and the
// in-place use case, on one cloud connection and one state store.
type deployEnv struct {
	m       *manifest.Manifest
	cloud   *openstack.Client
	st      *store.Store
	log     *slog.Logger
	command string
	wait    time.Duration
	signer  ssh.Signer
	out     io.Writer // text output: progress is printed here; nil logs it instead
	mu      sync.Mutex
}

func (d *deployEnv) facts(ctx context.Context, group string) (orchestrator.Facts, error) {
	return groupFacts(ctx, d.cloud, d.m.Groups[group])
}

// logEvents logs a rollout's events of group (failed ones as errors).
func logEvents(ctx context.Context, log *slog.Logger, group string) func(failover.Event) {
	return func(e failover.Event) {
		level := slog.LevelInfo
		if e.Failed {
			level = slog.LevelError
		}
		log.Log(ctx, level, e.String(), "group", group)
	}
}

func (d *deployEnv) rebuild(ctx context.Context, group string) (failover.RebuildResult, error) {
	spec, err := groupSpec(d.m, group)
	if err != nil {
		return failover.RebuildResult{}, err
	}
	g := &groupEnv{m: d.m, spec: spec, cloud: d.cloud, store: d.st, log: d.log}
	sink := logEvents(ctx, d.log, group)
	var progress func(failover.Event)
	if d.out != nil {
		pr := newEventPrinter(d.out, "text")
		sink, progress = pr.Event, pr.progress()
	}
	deps, err := g.groupDeps(d.command, d.wait, sink, progress)
	if err != nil {
		return failover.RebuildResult{}, err
	}
	deps.Deadline = orchestrator.WindowEnd(ctx)                        // --maintenance-window: no new slot after it
	res, err := failover.Rebuild(ctx, deps, failover.RebuildRequest{}) // the image the facts resolved: the group's pin, else the latest
	return res, classify(err)
}

func (d *deployEnv) inplace(ctx context.Context, group string, o orchestrator.InPlaceOptions) (inplace.Summary, error) {
	env := &inplaceEnv{m: d.m, g: d.m.Groups[group], cloud: d.cloud, st: d.st, log: d.log}
	opts, err := env.jobOptions(o)
	if err != nil {
		return inplace.Summary{}, err
	}
	return env.run(ctx, inplaceRun{opts: opts, signer: d.signer, holder: lease.Self(d.command, started), wait: d.wait,
		progress: func(r inplace.ServerResult) {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.out != nil {
				fmt.Fprintf(d.out, "%s in-place %s %s: %s\n", time.Now().Format("15:04:05.000"), group, r.Server.Name, orDash(strings.Join([]string{string(r.Phase), string(r.Status)}, " ")))
				return
			}
			d.log.Info("in-place", "server", r.Server.Name, "phase", r.Phase, "status", r.Status)
		}})
}
