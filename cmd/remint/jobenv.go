package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// jobEnv is the durable job queue on the manifest's state file, with the job kinds
// wired to the cloud. The cloud is connected on the first job that needs it, so listing
// or cancelling jobs works without one.
type jobEnv struct {
	m     *manifest.Manifest
	store *store.Store
	queue *orchestrator.Queue
	log   *slog.Logger
	ttl   time.Duration

	once     sync.Once
	cloud    *openstack.Client
	cloudErr error
}

func (e *jobEnv) Close() { e.store.Close() }

// openJobs opens the job queue of the manifest's state file; workers 0 is insert-only.
func openJobs(ctx context.Context, file string, stderr io.Writer, log *slog.Logger, workers int) (*jobEnv, error) {
	if log == nil {
		var err error
		if log, err = newLogger(stderr); err != nil {
			return nil, err
		}
	}
	m, err := loadManifest(file)
	if err != nil {
		return nil, err
	}
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return nil, usageError{err}
	}
	st, err := openStore(ctx, m)
	if err != nil {
		return nil, err
	}
	e := &jobEnv{m: m, store: st, log: log, ttl: ttl}
	e.queue, err = orchestrator.NewQueue(ctx, st, e.registry(), orchestrator.QueueConfig{
		Workers: workers, LeaseTTL: ttl, Logger: log,
		Holder: lease.Self(fmt.Sprintf("remint serve (%d workers)", workers), started),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return e, nil
}

func (e *jobEnv) connect(ctx context.Context) (*openstack.Client, error) {
	e.once.Do(func() { e.cloud, e.cloudErr = connectCloud(ctx, e.m, e.log) })
	return e.cloud, e.cloudErr
}

// registry maps the job kinds that exist on this build to their use cases.
func (e *jobEnv) registry() orchestrator.Registry {
	groups := func(name string) bool { _, ok := e.m.Groups[name]; return ok }
	inplaceKind := orchestrator.InPlaceHandler{Groups: groups, Patch: e.inplace, Facts: e.groupFacts}
	return orchestrator.Registry{
		orchestrator.KindRebuild:    orchestrator.RebuildHandler{Groups: groups, Deps: e.groupDeps},
		orchestrator.KindRetireKept: orchestrator.RetireKeptHandler{Groups: groups, Deps: e.groupDeps},
		orchestrator.KindRollback:   orchestrator.RollbackHandler{Groups: groups, Deps: e.groupDeps},
		orchestrator.KindImageRetention: orchestrator.ImageRetentionHandler{
			Families: func(name string) (int, bool) {
				f, ok := e.m.Families[name]
				if !ok {
					return 0, false
				}
				return f.Keep(), true
			},
			Retire: e.retireImages,
		},
		orchestrator.KindInPlace: inplaceKind,
		orchestrator.KindUpdate: orchestrator.UpdateHandler{Groups: groups, Facts: e.groupFacts,
			Rebuild: orchestrator.RebuildHandler{Groups: groups, Deps: e.groupDeps}, InPlace: inplaceKind},
		orchestrator.KindEmergency: orchestrator.EmergencyHandler{
			Groups: e.m.GroupNames,
			Facts: func(ctx context.Context, group string) (orchestrator.EmergencyFacts, error) {
				env, err := e.emergencyEnv(ctx)
				if err != nil {
					return orchestrator.EmergencyFacts{}, err
				}
				return env.facts(ctx, group)
			},
			Deps: func(ctx context.Context, resume bool) (orchestrator.EmergencyDeps, error) {
				env, err := e.emergencyEnv(ctx)
				if err != nil {
					return orchestrator.EmergencyDeps{}, err
				}
				return env.deps(resume), nil
			},
		},
		orchestrator.KindBuildImage: orchestrator.BuildImageHandler{
			Families: func(name string) bool { _, ok := e.m.Families[name]; return ok },
			Build:    e.buildImage,
		},
	}
}

// buildImage runs the image pipeline for a job, holding the family's lease (waiting for
// a dead holder's to expire).
func (e *jobEnv) buildImage(ctx context.Context, family string, o orchestrator.BuildImageOptions, step func(imagebuild.Event)) (imagebuild.Result, error) {
	cl, err := e.connect(ctx)
	if err != nil {
		return imagebuild.Result{}, err
	}
	fam := e.m.Families[family]
	return imagebuild.Build(ctx, cl, catalog.New(cl), imagebuild.Options{
		Family:               fam,
		Leases:               &lease.Manager{Store: e.store, TTL: e.ttl, Wait: 3 * e.ttl, Logger: e.log, Holder: lease.Self("remint serve: job build-image "+family, started)},
		Checks:               familyChecks(e.m, family),
		OnlyIfChanged:        o.OnlyIfChanged || fam.BuildOnlyOnChange,
		KeepBuilderOnFailure: o.KeepBuilderOnFailure,
		KeepFailed:           o.KeepFailed,
		SSHTimeout:           time.Duration(o.SSHTimeoutSeconds) * time.Second,
		Events:               step,
		Logger:               e.log,
	})
}

// emergencyEnv wires an emergency job's use cases: a group or family another holder has
// is waited for as long as it takes (up to the job's window end, if it has one), not
// failed busy; in-place work logs in with $REMINT_SSH_KEY.
func (e *jobEnv) emergencyEnv(ctx context.Context) (*emergencyEnv, error) {
	cl, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	return &emergencyEnv{m: e.m, cloud: cl, st: e.store, log: e.log, command: "remint serve: job emergency", wait: lease.Forever}, nil
}

// groupDeps wires a group's use cases for a job: the lease waits long enough for a dead
// holder's lease to expire (a job resumed after kill -9 takes over its group).
func (e *jobEnv) groupDeps(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error) {
	spec, err := groupSpec(e.m, group)
	if err != nil {
		return failover.Deps{}, err
	}
	cl, err := e.connect(ctx)
	if err != nil {
		return failover.Deps{}, err
	}
	g := &groupEnv{m: e.m, spec: spec, cloud: cl, store: e.store, log: e.log}
	d, err := g.groupDeps("remint serve: job on group "+group, 3*e.ttl, sink, nil)
	d.Deadline = orchestrator.WindowEnd(ctx) // a scheduled run's window: no new slot after it
	return d, err
}

// fleet is the API's view of the manifest's groups and images (remint serve).
func (e *jobEnv) fleet() *orchestrator.Fleet {
	return &orchestrator.Fleet{Manifest: e.m, Store: e.store, Deps: e.readDeps, Change: e.changeDeps, Cloud: e.connect, Log: e.log}
}

// changeDeps wires a group's records for the API's adopt and forget: the group's lease
// held as command (waiting up to wait for it), no health probes.
func (e *jobEnv) changeDeps(ctx context.Context, group, command string, wait time.Duration) (failover.Deps, error) {
	g, ok := e.m.Groups[group]
	if !ok {
		return failover.Deps{}, fmt.Errorf("group %q is not in the manifest", group)
	}
	spec, err := failover.RecordSpec(g)
	if err != nil {
		return failover.Deps{}, err
	}
	cl, err := e.connect(ctx)
	if err != nil {
		return failover.Deps{}, err
	}
	env := &groupEnv{m: e.m, spec: spec, cloud: cl, store: e.store, log: e.log}
	return env.recordDeps(command, wait)
}

// readDeps wires a group's use cases for the API's reads (status, plan): no lease is
// taken. records: groups of pets are welcome (their records are shown).
func (e *jobEnv) readDeps(ctx context.Context, group string, records bool) (failover.Deps, error) {
	spec, err := groupSpec(e.m, group)
	if g := e.m.Groups[group]; records && err != nil && g != nil && !g.IsReplaceable() {
		spec, err = failover.RecordSpec(g)
	}
	if err != nil {
		return failover.Deps{}, err
	}
	cl, err := e.connect(ctx)
	if err != nil {
		return failover.Deps{}, err
	}
	g := &groupEnv{m: e.m, spec: spec, cloud: cl, store: e.store, log: e.log}
	return g.groupDeps("remint serve: API read of group "+group, 0, nil, nil)
}

func (e *jobEnv) retireImages(ctx context.Context, family string, keep int) ([]string, error) {
	cl, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	inUse, err := catalog.ImagesInUse(ctx, cl)
	if err != nil {
		return nil, err
	}
	return catalog.New(cl).Retire(ctx, family, catalog.RetireOptions{Keep: keep, InUse: func(id string) bool { return inUse[id] }}, time.Now())
}

// groupFacts gathers the policy's facts for a group (the update kind).
func (e *jobEnv) groupFacts(ctx context.Context, group string) (orchestrator.Facts, error) {
	g, ok := e.m.Groups[group]
	if !ok {
		return orchestrator.Facts{}, fmt.Errorf("group %q is not in the manifest", group)
	}
	cl, err := e.connect(ctx)
	if err != nil {
		return orchestrator.Facts{}, err
	}
	return groupFacts(ctx, cl, g)
}

// inplace runs the in-place use case for a job: the group's defaults, the job's options,
// SSH with $REMINT_SSH_KEY, the group's lease (waiting for a dead holder's to expire). A
// resumed job continues the group's unfinished run if there is one.
func (e *jobEnv) inplace(ctx context.Context, group string, o orchestrator.InPlaceOptions, resume bool, progress func(inplace.ServerResult)) (inplace.Summary, error) {
	g, ok := e.m.Groups[group]
	if !ok {
		return inplace.Summary{}, fmt.Errorf("group %q is not in the manifest", group)
	}
	signer, err := remote.LoadSigner("")
	if err != nil {
		return inplace.Summary{}, fmt.Errorf("in-place %s: SSH key: %w", group, err)
	}
	cl, err := e.connect(ctx)
	if err != nil {
		return inplace.Summary{}, err
	}
	env := &inplaceEnv{m: e.m, g: g, cloud: cl, st: e.store, log: e.log}
	opts, err := env.jobOptions(o)
	if err != nil {
		return inplace.Summary{}, err
	}
	r := inplaceRun{opts: opts, signer: signer, holder: lease.Self("remint serve: job inplace "+group, started), wait: 3 * e.ttl, progress: progress}
	if o.Slot != nil {
		// A job on one slot (group/<slot>) patches the server the slot holds now.
		slots, err := e.store.Slots(ctx, group)
		if err != nil {
			return inplace.Summary{}, err
		}
		for _, s := range slots {
			if s.Slot == *o.Slot {
				r.names = []string{s.ServerID}
			}
		}
		if r.names == nil {
			return inplace.Summary{}, fmt.Errorf("in-place %s: slot %d has no server", group, *o.Slot)
		}
	}
	if resume {
		r.resume = true
		sum, err := env.run(ctx, r)
		var inputErr *inplace.InputError
		if !errors.As(err, &inputErr) {
			return sum, err
		}
		// No unfinished run was recorded: the attempt was cut short before it began one.
		r.resume = false
	}
	return env.run(ctx, r)
}

// schedules turns the manifest's schedules into the daemon's.
func (e *jobEnv) schedules() ([]orchestrator.NamedSchedule, error) {
	var out []orchestrator.NamedSchedule
	for _, name := range e.m.ScheduleNames() {
		s := e.m.Schedules[name]
		ns, err := orchestrator.NewNamedSchedule(name, s.RRule, s.Window, s.Action, s.Target, s.Options)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		out = append(out, ns)
	}
	return out, nil
}
