package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newEmergencyCmd) }

type emergencyOptions struct {
	file        string
	output      string
	security    bool
	all         bool
	reason      string
	dryRun      bool
	concurrency int
	identity    string
	waitLock    time.Duration
	// client queues the emergency through a daemon (--server), with its token and CA.
	client clientOptions
}

func newEmergencyCmd() *cobra.Command {
	var o emergencyOptions
	cmd := &cobra.Command{
		Use:   "emergency --security [TARGET…|--all] [--reason TEXT] [--dry-run] [--concurrency N]",
		Short: "Roll out security fixes now: out-of-cycle images, rebuilds, and in-place upgrades for pets",
		Long: `The manual 3 a.m. security rollout. For the target groups (or --all):

1. Each family a target group is rebuilt from gets its active image checked: a server
   booted from it refreshes apt's lists and looks for pending security updates (the
   Debian-Security origin, as unattended-upgrades picks them). Only if there are some is
   a new version built, verified and published out of cycle (the reason is recorded on
   the image as remint_build_reason); otherwise "nothing changed" and no build.
2. Every replaceable group is rebuilt onto its family's image (failover: new servers,
   health, address moves, as remint rebuild does; slots already on it are left alone).
3. Groups that cannot be rebuilt (replaceable: false, no failover address, no image, no
   quota for the surge, a pinned image) get security upgrades in place, rebooting the
   servers whose upgrades require it (as remint inplace --security --reboot if-required).

Targets run in parallel, at most --concurrency at a time, each under its own group
lease. A group or image family another command or job is changing (a rebuild, an
in-place run, a monthly image build) is waited for, as long as it takes (Ctrl-C stops;
--wait-lock bounds it), and the output says once what it waits for ("waiting for group
web: held by ` + "`remint rebuild web`" + ` (pid 1234 on host x) since …"). The run ends with one report: per target what was done, and which security
packages changed on how many of the servers rebuilt or patched ("openssl 3.0.11-1~deb12u1
→ 3.0.13-1~deb12u1 on 7/7 servers"). --dry-run prints the plan and changes nothing.

With --server URL the daemon runs it: an emergency job is queued (target "all" or the
groups), its events are printed as they come until it ends, and the exit status is the
same. The daemon plans, waits for busy groups and families by itself, and logs in over
SSH with its own $REMINT_SSH_KEY: --dry-run, --wait-lock and --identity are refused with
--server.

Exit status: 0 everything succeeded (or nothing needed doing), 1 something ran and
failed, 2 bad input (no --security, unknown target, neither targets nor --all, both).`,
		Example: `  remint emergency --security --all --reason "CVE-2026-1234 in openssl" --dry-run
  remint emergency --security --all --reason "CVE-2026-1234 in openssl"
  remint emergency --security web db --output json -i ~/.ssh/remint
  remint emergency --security --all --reason "CVE-2026-1234 in openssl" --server http://127.0.0.1:8440`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEmergency(cmd.Context(), cmd, args, o)
		},
	}
	f := cmd.Flags()
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
	f.BoolVar(&o.security, "security", false, "roll out security updates (required: the only kind of emergency there is)")
	f.BoolVar(&o.all, "all", false, "every group of the manifest")
	f.StringVar(&o.reason, "reason", "", "why (a CVE, a ticket): recorded in the job's events, the log and the built image")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
	f.IntVar(&o.concurrency, "concurrency", orchestrator.DefaultEmergencyConcurrency, "how many targets (and image builds) run at once")
	f.StringVarP(&o.identity, "identity", "i", "", "private key file for SSH, for in-place work (default $REMINT_SSH_KEY)")
	serverFlag(cmd, &o.client)
	f.DurationVar(&o.waitLock, "wait-lock", 0, "wait up to this long for each group or image family another command is changing (default: as long as it takes)")
	return cmd
}

func runEmergency(ctx context.Context, cmd *cobra.Command, args []string, o emergencyOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if !o.security {
		return usageErrorf("--security is required (an emergency rolls out security updates)")
	}
	if o.concurrency < 1 {
		return usageErrorf("--concurrency %d: want at least 1", o.concurrency)
	}
	if o.waitLock < 0 {
		return usageErrorf("--wait-lock %s: must not be negative", o.waitLock)
	}
	if strings.ContainsAny(o.reason, "\n\r") || len(o.reason) > 500 {
		return usageErrorf("--reason: one line of at most 500 characters")
	}
	if o.client.server != "" {
		return runEmergencyOnServer(ctx, cmd, args, o)
	}
	log, err := newLogger(stderr)
	if err != nil {
		return err
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return err
	}
	targets, err := orchestrator.EmergencyTargets(m.GroupNames(), args, o.all)
	if err != nil {
		return usageError{fmt.Errorf("%w (groups in %s: %s)", err, m.Path, strings.Join(m.GroupNames(), ", "))}
	}
	cl, err := connectCloud(ctx, m, log)
	if err != nil {
		return err
	}
	e := &emergencyEnv{m: m, cloud: cl, log: log, command: commandLine(cmd, args), wait: lease.Forever}
	if cmd.Flags().Changed("wait-lock") {
		e.wait = o.waitLock
	}
	facts := make([]orchestrator.EmergencyFacts, 0, len(targets))
	for _, t := range targets {
		f, err := e.facts(ctx, t)
		if err != nil {
			return err
		}
		facts = append(facts, f)
	}
	plan, err := orchestrator.PlanEmergency(time.Now(), o.reason, facts)
	if err != nil {
		return usageError{err}
	}
	if o.dryRun {
		rep := orchestrator.PlannedReport(plan)
		if o.output == "json" {
			return writeJSON(stdout, rep)
		}
		fmt.Fprint(stdout, plan)
		return nil
	}
	if plan.InPlace() {
		if e.signer, err = remote.LoadSigner(o.identity); err != nil {
			return usageError{fmt.Errorf("--identity (some targets are patched in place over SSH): %w", err)}
		}
	}
	if e.st, err = openStore(ctx, m); err != nil {
		return err
	}
	defer e.st.Close()
	log.Info("emergency security rollout", "targets", strings.Join(targets, ","), "reason", o.reason)
	deps := e.deps(false)
	var mu sync.Mutex
	deps.Progress = func(level, msg string) {
		if level == "error" {
			log.Error(msg)
		} else {
			log.Info(msg)
		}
		if o.output == "text" {
			mu.Lock()
			fmt.Fprintf(stdout, "%s %s\n", time.Now().Format("15:04:05"), msg)
			mu.Unlock()
		}
	}
	if o.output == "text" {
		fmt.Fprint(stdout, plan)
	}
	rep, runErr := orchestrator.RunEmergency(ctx, deps, plan, o.concurrency)
	if o.output == "json" {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprint(stdout, "\n"+rep.String())
	}
	if runErr != nil {
		return fmt.Errorf("emergency security rollout failed (see the report): %s", failedTargets(rep))
	}
	return nil
}

// runEmergencyOnServer queues an emergency job on the daemon and follows it: exit 0 when
// it succeeded, 1 when it failed, 2 for bad input (nothing queued).
func runEmergencyOnServer(ctx context.Context, cmd *cobra.Command, args []string, o emergencyOptions) error {
	switch {
	case o.dryRun:
		return localOnlyf("--dry-run and --server: the plan is made locally, run it without --server")
	case cmd.Flags().Changed("wait-lock"):
		return localOnlyf("--wait-lock and --server: the daemon's emergency job waits for busy groups and image families by itself, as long as it takes (up to its window)")
	case o.identity != "":
		return localOnlyf("--identity and --server: the daemon logs in over SSH with its own $REMINT_SSH_KEY")
	case o.all && len(args) > 0:
		return usageErrorf("name targets or --all, not both (targets: %s)", strings.Join(args, ", "))
	case !o.all && len(args) == 0:
		return usageErrorf("name the target groups or pass --all")
	}
	target := orchestrator.EmergencyTargetAll
	if !o.all {
		target = strings.Join(args, ",")
	}
	opts, err := json.Marshal(orchestrator.EmergencyJobOptions{Reason: o.reason, Concurrency: o.concurrency})
	if err != nil {
		return err
	}
	c, err := o.client.client()
	if err != nil {
		return err
	}
	j, err := c.Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindEmergency, Target: target, Options: opts, RequestedBy: "cli (emergency)"})
	if err != nil {
		return serverError(err)
	}
	return followJob(ctx, c, j, cmd.OutOrStdout(), o.output)
}

// failedTargets names what failed in a report.
func failedTargets(rep orchestrator.EmergencyReport) string {
	var out []string
	for _, f := range rep.Families {
		if f.Build == orchestrator.BuildFailed {
			out = append(out, "image "+f.Family)
		}
	}
	for _, t := range rep.Targets {
		if t.Result == orchestrator.EmergencyFailed {
			out = append(out, t.Target)
		}
	}
	return strings.Join(out, ", ")
}

// emergencyEnv wires an emergency's use cases (image pipeline, failover.Rebuild, in
// place) on one cloud connection and one state store; the CLI and the job kind share it.
type emergencyEnv struct {
	m       *manifest.Manifest
	cloud   *openstack.Client
	st      *store.Store
	log     *slog.Logger
	command string // how lease holders are shown
	// wait is how long a group or family lease another holder has is waited for
	// (lease.Forever: as long as it takes); waitFor bounds it by the window.
	wait   time.Duration
	signer ssh.Signer
}

// facts are the policy's facts for a group, and the manifest's pin of its image.
func (e *emergencyEnv) facts(ctx context.Context, group string) (orchestrator.EmergencyFacts, error) {
	g, ok := e.m.Groups[group]
	if !ok {
		return orchestrator.EmergencyFacts{}, fmt.Errorf("group %q is not in the manifest", group)
	}
	f, err := groupFacts(ctx, e.cloud, g)
	if err != nil {
		return orchestrator.EmergencyFacts{}, err
	}
	ef := orchestrator.EmergencyFacts{Facts: f}
	switch {
	case g.Image.ID != "":
		ef.Pinned = "image id " + g.Image.ID
	case g.Image.Version != "" && g.Image.Version != "latest":
		ef.Pinned = "version " + g.Image.Version
	}
	return ef, nil
}

func (e *emergencyEnv) leases(ctx context.Context, holder string) (*lease.Manager, error) {
	wait, err := e.waitFor(ctx)
	if err != nil {
		return nil, err
	}
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return nil, usageError{err}
	}
	return &lease.Manager{Store: e.st, TTL: ttl, Wait: wait, Logger: e.log, Holder: lease.Self(holder, started)}, nil
}

// waitFor is how long to wait for a lease in ctx: e.wait, up to the end of ctx's
// maintenance window (nothing new starts after it) but at least 3 TTLs, long enough for
// a dead holder's lease to expire (a job resumed after its window still takes over its
// own cut-short attempt's leases to finish what was under way).
func (e *emergencyEnv) waitFor(ctx context.Context) (time.Duration, error) {
	end := orchestrator.WindowEnd(ctx)
	if end.IsZero() {
		return e.wait, nil
	}
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return 0, usageError{err}
	}
	return min(e.wait, max(time.Until(end), 3*ttl)), nil
}

// deps are the emergency's use cases; resume continues unfinished in-place runs first.
func (e *emergencyEnv) deps(resume bool) orchestrator.EmergencyDeps {
	cat := catalog.New(e.cloud)
	return orchestrator.EmergencyDeps{
		Build: func(ctx context.Context, family, reason string) (imagebuild.Result, error) {
			leases, err := e.leases(ctx, e.command)
			if err != nil {
				return imagebuild.Result{}, err
			}
			return imagebuild.Build(ctx, e.cloud, cat, imagebuild.Options{
				Family:                e.m.Families[family],
				Leases:                leases,
				Checks:                familyChecks(e.m, family),
				OnlyIfSecurityUpdates: true,
				Reason:                reason,
				Events: func(ev imagebuild.Event) {
					if ev.Status != "start" {
						e.log.Info("image build step", "family", family, "step", ev.Step, "status", ev.Status, "message", firstLine(ev.Message))
					}
				},
				Logger: e.log,
			})
		},
		Packages: func(ctx context.Context, family, version string) ([]debian.Package, error) {
			ent, err := catalogVersion(ctx, cat, family, version)
			if err != nil {
				return nil, err
			}
			return catalog.Packages(ent)
		},
		Image: func(ctx context.Context, family, version string) (catalog.Entry, error) {
			return catalogVersion(ctx, cat, family, version)
		},
		Rebuild: func(ctx context.Context, group, version string) (failover.RebuildResult, error) {
			spec, err := groupSpec(e.m, group)
			if err != nil {
				return failover.RebuildResult{}, err
			}
			wait, err := e.waitFor(ctx)
			if err != nil {
				return failover.RebuildResult{}, err
			}
			g := &groupEnv{m: e.m, spec: spec, cloud: e.cloud, store: e.st, log: e.log}
			deps, err := g.groupDeps(e.command, wait, logEvents(ctx, e.log, group), nil)
			if err != nil {
				return failover.RebuildResult{}, err
			}
			deps.Deadline = orchestrator.WindowEnd(ctx) // a job's window: no new slot after it
			res, err := failover.Rebuild(ctx, deps, failover.RebuildRequest{Image: version})
			return res, classify(err)
		},
		InPlace: func(ctx context.Context, group string, o orchestrator.InPlaceOptions) (inplace.Summary, error) {
			env := &inplaceEnv{m: e.m, g: e.m.Groups[group], cloud: e.cloud, st: e.st, log: e.log}
			opts, err := env.jobOptions(o)
			if err != nil {
				return inplace.Summary{}, err
			}
			wait, err := e.waitFor(ctx)
			if err != nil {
				return inplace.Summary{}, err
			}
			signer := e.signer
			if signer == nil {
				var err error
				if signer, err = remote.LoadSigner(""); err != nil {
					return inplace.Summary{}, fmt.Errorf("in-place %s: SSH key: %w", group, err)
				}
			}
			r := inplaceRun{opts: opts, signer: signer, holder: lease.Self(e.command, started), wait: wait,
				progress: func(s inplace.ServerResult) {
					e.log.Info("in-place", "group", group, "server", s.Server.Name, "phase", s.Phase, "status", s.Status)
				}}
			if resume {
				r.resume = true
				sum, err := env.run(ctx, r)
				var inputErr *inplace.InputError
				if !errors.As(err, &inputErr) {
					return sum, err
				}
				r.resume = false // no unfinished run was recorded
			}
			return env.run(ctx, r)
		},
	}
}

// catalogVersion reads a family's version ("YYYY.MM.N") from the catalog.
func catalogVersion(ctx context.Context, cat *catalog.Catalog, family, version string) (catalog.Entry, error) {
	v, err := catalog.ParseVersion(version)
	if err != nil {
		return catalog.Entry{}, err
	}
	return cat.Version(ctx, family, v)
}
