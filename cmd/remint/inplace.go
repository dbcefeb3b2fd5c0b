package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { register(newInplaceCmd) }

type inplaceOptions struct {
	file           string
	servers        string
	security       bool
	reboot         string
	docker         bool
	weave          bool
	allowDowngrade bool
	concurrency    int
	maxErrors      string
	dryRun         bool
	force          bool
	resume         bool
	output         string
	identity       string
	lockTimeout    time.Duration
	sshTimeout     time.Duration
	waitLock       time.Duration
	// client queues the run through a daemon (--server), with its token and CA.
	client clientOptions
}

func newInplaceCmd() *cobra.Command {
	var o inplaceOptions
	cmd := &cobra.Command{
		Use:   "inplace [GROUP] [--servers a,b]",
		Short: "Patch servers in place over SSH: security upgrades, reboot policy, Docker and Weave",
		Long: `Patch a group's servers where they stand, for servers that cannot be rebuilt (a pet marked
replaceable: false, or no active image). Per server: preflight (apt/dpkg locks, free disk,
dpkg --audit), then --security installs the pending security updates and only those (as
unattended-upgrades picks them: the Debian-Security origin) and sets up unattended-upgrades
for daily security-only upgrades; --docker upgrades docker.io to the version the family's
manifest pins, verified through the Docker Engine API, and brings back running containers;
--weave installs the pinned Weave Net script after checking its SHA-256 and relaunches it;
finally the reboot policy applies (a reboot goes through the cloud's reboot API, then SSH
and the group's health check must come back; the downtime is reported).

Servers are patched --concurrency at a time; once more than --max-errors servers failed no
new server starts. Every step is recorded in the state store: a killed run is reported by
the next one and continued with --resume. A group that could be rebuilt instead is refused
unless --force: rebuilding is the better way to patch it.

With --server URL the daemon patches the group: an inplace job is queued (the group, the
upgrades asked for and --reboot, which must be given: the job does not read the group's
inplace.reboot), its events are printed as they come until it ends, and the exit status
is the same. What the job decides by itself is refused with --server: --servers, --dry-run,
--resume (a job continues its own cut-short run), --concurrency, --max-errors,
--allow-downgrade, --lock-timeout, --ssh-timeout, --wait-lock and --identity (the daemon
logs in with its own $REMINT_SSH_KEY). Like this command, the daemon's job refuses a group
the policy would rebuild unless --force.

Exit status: 0 every server succeeded, 1 the run failed (a server failed or was not
started), 2 bad input.`,
		Example: `  remint inplace db --security --reboot if-required
  remint inplace db --dry-run
  remint inplace web --servers web-1 --docker --force
  remint inplace db --resume
  remint inplace db --security --reboot if-required --server http://127.0.0.1:8440`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := ""
			if len(args) == 1 {
				group = args[0]
			}
			return runInplace(cmd.Context(), cmd, group, commandLine(cmd, args), o)
		},
	}
	f := cmd.Flags()
	manifestFlag(cmd, &o.file)
	outputFlag(cmd, &o.output, "text", "json")
	f.StringVar(&o.servers, "servers", "", "comma-separated server names (or ids) to patch: only these (default: all of the group's)")
	f.BoolVar(&o.security, "security", false, "install pending security updates (only those) and set up unattended-upgrades (default when neither --docker nor --weave is given)")
	f.StringVar(&o.reboot, "reboot", "", "reboot policy: never, if-required or always (default: the group's inplace.reboot)")
	f.BoolVar(&o.docker, "docker", false, "upgrade the Docker engine (docker.io) to the family's pinned version")
	f.BoolVar(&o.weave, "weave", false, "upgrade Weave Net to the family's pinned script")
	f.BoolVar(&o.allowDowngrade, "allow-downgrade", false, "let --docker install a version lower than the installed one")
	f.IntVar(&o.concurrency, "concurrency", 0, "servers patched at once (default: the group's inplace.concurrency)")
	f.StringVar(&o.maxErrors, "max-errors", "", "failed servers tolerated before no new server starts: N or P% (default: the group's inplace.error_budget)")
	f.BoolVar(&o.dryRun, "dry-run", false, "list what would be installed per server; change nothing (package lists are refreshed)")
	f.BoolVar(&o.force, "force", false, "patch in place a group that could be rebuilt instead")
	f.BoolVar(&o.resume, "resume", false, "continue the group's unfinished in-place run (servers that succeeded are not touched again)")
	f.StringVarP(&o.identity, "identity", "i", "", "private key file for SSH (default $REMINT_SSH_KEY)")
	f.DurationVar(&o.lockTimeout, "lock-timeout", 5*time.Minute, "how long to wait for apt/dpkg locks held by another run (e.g. unattended-upgrade)")
	f.DurationVar(&o.sshTimeout, "ssh-timeout", 5*time.Minute, "how long to wait for SSH after a reboot")
	waitLockFlag(cmd, &o.waitLock)
	serverFlag(cmd, &o.client)
	return cmd
}

// inplaceEnv is what the command wires together.
type inplaceEnv struct {
	m     *manifest.Manifest
	g     *manifest.Group
	cloud *openstack.Client
	st    *store.Store
	log   *slog.Logger
}

func runInplace(ctx context.Context, cmd *cobra.Command, group, command string, o inplaceOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if o.client.server != "" {
		return runInplaceOnServer(ctx, cmd, group, o)
	}
	names := inplace.SplitList(o.servers)
	if group == "" && len(names) == 0 {
		return usageErrorf("name a GROUP or give --servers a,b")
	}
	if o.reboot != "" {
		if _, err := inplace.ParseReboot(o.reboot); err != nil {
			return usageError{fmt.Errorf("--reboot: %w", err)}
		}
	}
	if cmd.Flags().Changed("concurrency") && o.concurrency < 1 {
		return usageErrorf("--concurrency %d: want at least 1", o.concurrency)
	}
	var budget *inplace.Budget
	if o.maxErrors != "" {
		b, err := inplace.ParseBudget(o.maxErrors)
		if err != nil {
			return usageError{fmt.Errorf("--max-errors: %w", err)}
		}
		budget = &b
	}
	signer, err := remote.LoadSigner(o.identity)
	if err != nil {
		return usageError{fmt.Errorf("--identity: %w", err)}
	}
	log, err := newLogger(stderr)
	if err != nil {
		return err
	}
	m, err := loadManifest(o.file)
	if err != nil {
		return err
	}
	env := &inplaceEnv{m: m, log: log}
	if group != "" {
		g, ok := m.Groups[group]
		if !ok {
			return usageErrorf("group %q is not in %s (groups: %s)", group, m.Path, strings.Join(m.GroupNames(), ", "))
		}
		env.g = g
	}
	if env.cloud, err = connectCloud(ctx, m, log); err != nil {
		return err
	}
	if env.g == nil {
		// --servers alone: the servers' group, from their tags or names.
		if env.g, err = env.groupOfServers(ctx, names); err != nil {
			return err
		}
		group = env.g.Name
	}
	if env.st, err = openStore(ctx, m); err != nil {
		return err
	}
	defer env.st.Close()

	opts := env.options(o.security || (!o.docker && !o.weave), cmpOr(o.reboot, env.g.RebootPolicy()), o.docker, o.weave)
	opts.AllowDowngrade, opts.DryRun, opts.LockTimeout, opts.SSHTimeout = o.allowDowngrade, o.dryRun, o.lockTimeout, o.sshTimeout
	if o.concurrency > 0 {
		opts.Concurrency = o.concurrency
	}
	if budget != nil {
		opts.MaxErrors = *budget
	}
	if err := opts.Validate(); err != nil {
		return usageError{err}
	}

	why, err := env.rebuildPreferred(ctx, opts)
	if err != nil {
		return err
	}
	if why != "" {
		if !o.force {
			return usageError{errors.New("refusing to patch in place: " + why)}
		}
		log.Warn("patching in place although a rebuild is preferred (--force)", "why", why)
	}

	if o.waitLock < 0 {
		return usageErrorf("--wait-lock %s: must not be negative", o.waitLock)
	}
	var mu sync.Mutex
	lastPhase := map[string]string{}
	progress := func(r inplace.ServerResult) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Phase + "/" + r.Status
		if lastPhase[r.Server.ID] == key {
			return
		}
		lastPhase[r.Server.ID] = key
		log.Info("in-place", "server", r.Server.Name, "phase", r.Phase, "status", r.Status)
	}
	sum, runErr := env.run(ctx, inplaceRun{names: names, opts: opts, resume: o.resume, signer: signer,
		holder: lease.Self(command, started), wait: o.waitLock, progress: progress})
	var inputErr *inplace.InputError
	if errors.As(runErr, &inputErr) {
		return usageError{runErr}
	}
	if sum.Run == "" && runErr != nil {
		return runErr
	}
	if o.output == "json" {
		if err := writeJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		if err := inplace.WriteTable(stdout, sum); err != nil {
			return err
		}
		b, _ := json.Marshal(struct {
			Run        string `json:"run"`
			Group      string `json:"group"`
			Status     string `json:"status"`
			Succeeded  int    `json:"succeeded"`
			Failed     int    `json:"failed"`
			NotStarted int    `json:"not_started"`
			DurationMS int64  `json:"duration_ms"`
		}{sum.Run, sum.Group, sum.Status, sum.Succeeded, sum.Failed, sum.NotStarted, sum.Duration.Milliseconds()})
		fmt.Fprintf(stdout, "summary: %s\n", b)
	}
	return runErr
}

// options are the in-place options of the group's defaults (concurrency, error budget)
// and its family's pins (Docker version, Weave release).
func (e *inplaceEnv) options(security bool, reboot string, docker, weave bool) inplace.Options {
	opts := inplace.Options{Security: security, Reboot: reboot, Docker: docker, Weave: weave,
		Concurrency: e.g.Concurrency(), MaxErrors: inplace.Budget{Count: e.g.InPlace.ErrorBudget}}
	if fam, ok := e.m.Families[e.g.Image.Family]; ok {
		opts.DockerVersion = fam.Provision.Docker
		if w := fam.Provision.Weave; w != nil {
			opts.WeaveSpec = &inplace.WeaveSpec{Version: w.Version, ScriptURL: w.ScriptURL, SHA256: w.SHA256}
		}
	}
	return opts
}

// jobOptions are the run's options for the in-place options of a job, deploy or
// emergency (the group's concurrency, error budget and its family's pins), validated.
func (e *inplaceEnv) jobOptions(o orchestrator.InPlaceOptions) (inplace.Options, error) {
	opts := e.options(o.ApplySecurityUpgrades, o.RebootPolicy(), o.ApplyDockerUpgrades, o.ApplyWeaveUpgrades)
	if err := opts.Validate(); err != nil {
		return inplace.Options{}, fmt.Errorf("in-place %s: %w", e.g.Name, err)
	}
	return opts, nil
}

// runInplaceOnServer queues an inplace job on the daemon and follows it: exit 0 when
// every server succeeded, 1 when the job failed, 2 for bad input (nothing queued).
func runInplaceOnServer(ctx context.Context, cmd *cobra.Command, group string, o inplaceOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	var local []string
	for _, name := range []string{"servers", "dry-run", "resume", "concurrency", "max-errors", "allow-downgrade", "lock-timeout", "ssh-timeout", "wait-lock", "identity"} {
		if cmd.Flags().Changed(name) {
			local = append(local, "--"+name)
		}
	}
	switch {
	case len(local) > 0:
		return localOnlyf("%s and --server: the daemon's inplace job patches the whole group with its own defaults, SSH key and lease wait; run it without --server", strings.Join(local, ", "))
	case group == "":
		return usageErrorf("name the GROUP: with --server the daemon patches a whole group")
	case o.reboot == "":
		return usageErrorf("--server: give --reboot never, if-required or always (the daemon's job does not read the group's inplace.reboot)")
	}
	if _, err := inplace.ParseReboot(o.reboot); err != nil {
		return usageError{fmt.Errorf("--reboot: %w", err)}
	}
	opts, err := json.Marshal(orchestrator.InPlaceOptions{Options: orchestrator.Options{
		ApplySecurityUpgrades: o.security || (!o.docker && !o.weave), ApplyDockerUpgrades: o.docker, ApplyWeaveUpgrades: o.weave},
		Reboot: o.reboot, Force: o.force})
	if err != nil {
		return err
	}
	c, err := o.client.client()
	if err != nil {
		return err
	}
	j, err := c.Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindInPlace, Target: group, Options: opts, RequestedBy: "cli (inplace)"})
	if err != nil {
		return serverError(err)
	}
	return followJob(ctx, c, j, cmd.OutOrStdout(), o.output)
}

// inplaceRun is one run of the in-place use case.
type inplaceRun struct {
	names    []string
	opts     inplace.Options
	resume   bool
	signer   ssh.Signer
	holder   store.LeaseHolder
	wait     time.Duration // for the group's lease
	progress func(inplace.ServerResult)
}

// run holds the group's lease (not for a dry run), prepares the plan (new or resumed)
// and patches the servers. An *inplace.InputError is a request to fix; a Summary without
// a run id means nothing ran.
func (e *inplaceEnv) run(ctx context.Context, r inplaceRun) (inplace.Summary, error) {
	group := e.g.Name
	// One changer of a group at a time: the group's lease, as rebuilds take it.
	if !r.opts.DryRun {
		ttl, err := lease.TTLFromEnv()
		if err != nil {
			return inplace.Summary{}, usageError{err}
		}
		leases := &lease.Manager{Store: e.st, TTL: ttl, Wait: r.wait, Logger: e.log, Holder: r.holder}
		l, err := leases.Acquire(ctx, lease.GroupKey(group))
		if err != nil {
			return inplace.Summary{}, classify(err)
		}
		defer func() {
			if err := l.Release(context.WithoutCancel(ctx)); err != nil {
				e.log.Warn("release the group lease", "group", group, "err", err)
			}
		}()
		ctx = l.Context()
	}
	plan, err := inplace.Prepare(ctx, e.st, e, inplace.Request{Group: group, Names: r.names, Options: r.opts, Resume: r.resume, NewID: newRunID})
	if err != nil {
		return inplace.Summary{}, err
	}
	opts := plan.Options
	if plan.Resume {
		e.log.Info("resuming in-place run", "run", plan.ID)
	}
	deps := inplace.Deps{Journal: e.st, Rebooter: e.cloud, Logger: e.log, Now: time.Now, Progress: r.progress, Deadline: orchestrator.WindowEnd(ctx)}
	access := &remote.Access{Cloud: e.cloud, User: cmpOr(e.g.SSHUser, "debian"), Signer: r.signer, Logger: e.log,
		Servers: openstack.ListServersOpts{NamePrefix: group + "-"}}
	deps.Dialer = accessDialer{access}
	// A cloud check adds nothing here: after a reboot remint already waits for SSH and
	// for Nova to say ACTIVE, and the console still shows the earlier boot finishing.
	if e.g.HealthCheck().Kind() != "cloud" {
		prober, policy, err := health.FromManifest(e.g.HealthCheck(), access.Runner())
		if err != nil {
			return inplace.Summary{}, usageError{err}
		}
		deps.Health = inplace.Health{Prober: prober, Policy: policy}
	}
	if opts.Weave {
		// Verified before any server is touched: a mismatch refuses the whole run.
		if deps.WeaveScript, err = inplace.FetchScript(ctx, &http.Client{Timeout: time.Minute}, *opts.WeaveSpec); err != nil {
			return inplace.Summary{}, err
		}
	}
	return inplace.Run(ctx, deps, plan)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ip-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// rebuildPreferred asks the orchestrator's policy (rebuild first) whether the group
// should be rebuilt rather than patched in place, and returns why ("" when in place is
// the policy's choice too: a pet, no active image, no quota for the surge, no address).
func (e *inplaceEnv) rebuildPreferred(ctx context.Context, o inplace.Options) (string, error) {
	g := e.g
	f, err := groupFacts(ctx, e.cloud, g)
	if err != nil {
		return "", err
	}
	d, err := orchestrator.Decide(time.Now(), f, orchestrator.Request{Options: orchestrator.Options{
		ApplySecurityUpgrades: o.Security, RebootIfRequired: o.Reboot != inplace.RebootNever,
		ApplyDockerUpgrades: o.Docker, ApplyWeaveUpgrades: o.Weave,
	}})
	if err != nil || d.Action != orchestrator.ActionRebuild {
		return "", err
	}
	return fmt.Sprintf("the policy (rebuild first) says %q: a rebuild replaces the servers with fresh ones from that fully patched image "+
		"and moves traffic only to healthy replacements (no downtime, old servers kept for rollback), while in place costs a reboot's downtime "+
		"and leaves the servers drifting from the image; run `remint rebuild %s`, or pass --force to patch in place anyway", d.Reason, g.Name), nil
}

// groupFacts gathers the policy's facts for a group: replaceable and failover addresses
// from the manifest; the servers the group runs now (those that claim it by tag or name),
// the image a rebuild would boot (a pinned id, else the family's latest active catalog
// entry), the compute quota and the surge's size from the cloud. A fact the cloud does not
// give is left out (the decision then says so).
func groupFacts(ctx context.Context, cloud *openstack.Client, g *manifest.Group) (orchestrator.Facts, error) {
	f := orchestrator.Facts{Target: g.Name, Replaceable: g.IsReplaceable(), Family: g.Image.Family, Addresses: len(g.AddressSlots())}
	list, err := cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: g.Name + "-"})
	if err != nil {
		return f, fmt.Errorf("list servers of group %s: %w", g.Name, err)
	}
	for _, s := range list {
		if inplace.ClaimsGroup(g.Name, s.Name, s.Metadata) && s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
			f.Servers++
		}
	}
	switch {
	case g.Image.ID != "":
		if img, err := cloud.GetImage(ctx, g.Image.ID); err == nil {
			f.Image = img.Name
		}
	case g.Image.Family != "":
		if ent, err := catalog.New(cloud).Resolve(ctx, g.Image.Family, g.Image.Version); err == nil {
			f.Image = g.Image.Family + " " + ent.Version.String()
		}
	}
	if !f.Replaceable {
		return f, nil
	}
	if q, err := orchestrator.ReadQuota(ctx, cloud); err == nil {
		f.Quota = q
	}
	if sv, err := orchestrator.ReadSurge(ctx, cloud, g.Flavor, min(g.MaxSurge(), g.Count)); err == nil {
		f.Surge = sv
	}
	return f, nil
}

// GroupServers lists the group's servers (inplace.Fleet): the slots the state records,
// else the servers that claim the group by tag or name; with each one's cloud status.
func (e *inplaceEnv) GroupServers(ctx context.Context, group string) ([]inplace.Server, map[string]string, error) {
	status := map[string]string{}
	slots, err := e.st.Slots(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	if len(slots) > 0 {
		out := make([]inplace.Server, 0, len(slots))
		for _, sl := range slots {
			s, err := e.cloud.GetServer(ctx, sl.ServerID)
			if err != nil {
				return nil, nil, fmt.Errorf("read server %s of slot %s-%d: %w", sl.ServerID, group, sl.Slot, err)
			}
			out = append(out, inplace.Server{ID: s.ID, Name: s.Name, Addr: s.AccessIP})
			status[s.ID] = s.Status
		}
		return out, status, nil
	}
	list, err := e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: group + "-"})
	if err != nil {
		return nil, nil, fmt.Errorf("list servers of group %s: %w", group, err)
	}
	var out []inplace.Server
	for _, s := range list {
		if inplace.ClaimsGroup(group, s.Name, s.Metadata) && s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
			out = append(out, inplace.Server{ID: s.ID, Name: s.Name, Addr: s.AccessIP})
			status[s.ID] = s.Status
		}
	}
	return out, status, nil
}

// ServersByID reads servers by id (inplace.Fleet).
func (e *inplaceEnv) ServersByID(ctx context.Context, ids []string) ([]inplace.Server, error) {
	out := make([]inplace.Server, 0, len(ids))
	for _, id := range ids {
		s, err := e.cloud.GetServer(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read server %s: %w", id, err)
		}
		out = append(out, inplace.Server{ID: s.ID, Name: s.Name, Addr: s.AccessIP})
	}
	return out, nil
}

// groupOfServers finds the manifest group the named servers belong to.
func (e *inplaceEnv) groupOfServers(ctx context.Context, names []string) (*manifest.Group, error) {
	list, err := e.cloud.ListServers(ctx, openstack.ListServersOpts{})
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	var found *manifest.Group
	for _, n := range names {
		var g *manifest.Group
		for _, s := range list {
			if s.Name != n && s.ID != n {
				continue
			}
			for _, gn := range e.m.GroupNames() {
				if inplace.ClaimsGroup(gn, s.Name, s.Metadata) {
					g = e.m.Groups[gn]
				}
			}
		}
		switch {
		case g == nil:
			return nil, usageErrorf("--servers: server %s is not a server of any group in %s; name the GROUP", n, e.m.Path)
		case found != nil && found != g:
			return nil, usageErrorf("--servers: the servers belong to groups %s and %s; patch one group at a time", found.Name, g.Name)
		}
		found = g
	}
	return found, nil
}

// accessDialer logs in to a server by id and fixed address through remote.Access: its
// host key must be one the server printed to its console at first boot.
type accessDialer struct{ access *remote.Access }

func (d accessDialer) Dial(ctx context.Context, s inplace.Server) (inplace.Conn, error) {
	return d.access.DialServer(ctx, openstack.Server{ID: s.ID, Name: s.Name, AccessIP: s.Addr})
}
