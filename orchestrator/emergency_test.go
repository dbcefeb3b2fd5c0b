package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// emergencyFacts: web and api rebuild from debian-12; db is a pet; cache pins its image;
// worker is a pet of another family; edge is a pet without servers.
func emergencyFacts() []EmergencyFacts {
	api := with(webFacts(), func(f *Facts) { f.Target, f.Servers, f.Addresses = "api", 2, 2 })
	cache := with(webFacts(), func(f *Facts) { f.Target, f.Servers, f.Addresses, f.Image = "cache", 1, 1, "debian-12 2026.10.1" })
	worker := with(dbFacts(), func(f *Facts) { f.Target, f.Family, f.Image = "worker", "ubuntu-24", "ubuntu-24 2026.11.1" })
	edge := with(dbFacts(), func(f *Facts) { f.Target, f.Servers = "edge", 0 })
	return []EmergencyFacts{
		{Facts: webFacts()}, {Facts: api}, {Facts: dbFacts()},
		{Facts: cache, Pinned: "version 2026.10.1"}, {Facts: worker}, {Facts: edge},
	}
}

func TestPlanEmergencyGolden(t *testing.T) {
	t.Parallel()
	p, err := PlanEmergency(decideAt, "CVE-2026-1234 in openssl", emergencyFacts())
	require.NoError(t, err)
	again, err := PlanEmergency(decideAt, "CVE-2026-1234 in openssl", emergencyFacts())
	require.NoError(t, err)
	require.Equal(t, p, again, "pure: same facts, same plan")
	checkGolden(t, "emergency-plan", p.String())

	require.Len(t, p.Families, 1)
	assert.Equal(t, FamilyPlan{Family: "debian-12", Active: "2026.11.1", Groups: []string{"web", "api"}}, p.Families[0])
	actions := map[string]Action{}
	for _, d := range p.Targets {
		actions[d.Target] = d.Action
	}
	assert.Equal(t, map[string]Action{"web": ActionRebuild, "api": ActionRebuild, "db": ActionInPlace, "cache": ActionInPlace,
		"worker": ActionInPlace, "edge": ActionSkip}, actions)
	assert.True(t, p.Rebuilds())
	assert.True(t, p.InPlace())

	// Nothing to rebuild: no family is checked.
	p, err = PlanEmergency(decideAt, "", []EmergencyFacts{{Facts: dbFacts()}})
	require.NoError(t, err)
	checkGolden(t, "emergency-plan-pets-only", p.String())
}

func TestEmergencyTargets(t *testing.T) {
	t.Parallel()
	groups := []string{"web", "db"}
	got, err := EmergencyTargets(groups, nil, true)
	require.NoError(t, err)
	assert.Equal(t, groups, got)
	got, err = EmergencyTargets(groups, []string{"db"}, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"db"}, got)
	for _, c := range []struct {
		named []string
		all   bool
		want  string
	}{
		{nil, false, "name the target groups or pass --all"},
		{[]string{"web"}, true, "name targets or --all, not both"},
		{[]string{"nope"}, false, `group "nope" is not in the manifest (groups: web, db)`},
		{[]string{"web", "web"}, false, "target web given twice"},
	} {
		_, err := EmergencyTargets(groups, c.named, c.all)
		require.ErrorContains(t, err, c.want, "%v %t", c.named, c.all)
	}
}

func pkgs(kv ...string) []debian.Package {
	var out []debian.Package
	for i := 0; i < len(kv); i += 3 {
		out = append(out, debian.Package{Name: kv[i], Version: kv[i+1], Arch: "amd64", Suite: kv[i+2]})
	}
	return out
}

// fakeEmergency stands in for the image pipeline, failover.Rebuild and the in-place use
// case (their own tests and e2e run them for real): it returns what each would, checks
// the order (rebuilds after their family's build) and the concurrency limit.
type fakeEmergency struct {
	build     imagebuild.Result
	buildErr  error
	built     atomic.Bool
	running   atomic.Int32
	maxSeen   atomic.Int32
	mu        sync.Mutex
	rebuiltOn map[string]string
	inplace   map[string]InPlaceOptions
	early     []string // rebuilds that started before the build ended
}

// isJobReason says whether a build's reason is an emergency job's: the job, then reason.
func isJobReason(got, reason string) bool {
	return strings.HasPrefix(got, "emergency job ") && strings.HasSuffix(got, ": "+reason)
}

func (f *fakeEmergency) enter() func() {
	n := f.running.Add(1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond) // overlap with the others, if the limit allowed it
	return func() { f.running.Add(-1) }
}

func (f *fakeEmergency) deps() EmergencyDeps {
	lists := map[string][]debian.Package{
		"2026.10.1": pkgs("libssl3", "3.0.9-1", "bookworm", "openssl", "3.0.9-1", "bookworm", "tzdata", "2024a-0+deb12u1", "bookworm"),
		"2026.11.1": pkgs("libssl3", "3.0.11-1~deb12u1", "bookworm-security", "openssl", "3.0.11-1~deb12u1", "bookworm-security", "tzdata", "2024a-0+deb12u1", "bookworm"),
		"2026.11.2": pkgs("libssl3", "3.0.13-1~deb12u1", "bookworm-security", "openssl", "3.0.13-1~deb12u1", "bookworm-security", "tzdata", "2025b-0+deb12u1", "bookworm-updates"),
	}
	slot := func(n int, state, oldVersion string) failover.SlotResult {
		s := failover.SlotResult{Slot: n, State: state, OldImageVersion: oldVersion, NewServerID: fmt.Sprintf("new-%d", n)}
		if oldVersion != "" {
			s.OldServerID = fmt.Sprintf("old-%d", n)
		}
		return s
	}
	return EmergencyDeps{
		Build: func(ctx context.Context, family, reason string) (imagebuild.Result, error) {
			defer f.enter()()
			if family != "debian-12" || (reason != "CVE-2026-1234 in openssl" && !isJobReason(reason, "CVE-2026-1234 in openssl")) {
				return imagebuild.Result{}, fmt.Errorf("unexpected build %s %q", family, reason)
			}
			defer f.built.Store(true)
			return f.build, f.buildErr
		},
		Packages: func(ctx context.Context, family, version string) ([]debian.Package, error) {
			l, ok := lists[version]
			if !ok {
				return nil, fmt.Errorf("%s %s: no package list recorded", family, version)
			}
			return l, nil
		},
		Rebuild: func(ctx context.Context, group, version string) (failover.RebuildResult, error) {
			defer f.enter()()
			f.mu.Lock()
			f.rebuiltOn[group] = version
			if !f.built.Load() {
				f.early = append(f.early, group)
			}
			f.mu.Unlock()
			res := failover.RebuildResult{Group: group, Target: failover.Target{Version: version}}
			switch group {
			case "web":
				res.Rollout = &failover.Result{Rollout: "r-web", Status: store.RolloutCompleted, Slots: []failover.SlotResult{
					slot(0, failover.StateDone, "2026.11.1"), slot(1, failover.StateDone, "2026.11.1"), slot(2, failover.StateDone, "2026.10.1"),
					slot(3, failover.StateDone, ""), // a slot created by a raised count
				}}
				return res, nil
			case "api":
				res.Rollout = &failover.Result{Rollout: "r-api", Status: store.RolloutFailed, Slots: []failover.SlotResult{
					slot(0, failover.StateDone, "2026.11.1"), slot(1, failover.StateRolledBack, "2026.11.1"),
				}}
				return res, errors.New("slot 1: health check failed: connection refused")
			case "blue":
				res.UpToDate = true
				return res, nil
			}
			return res, fmt.Errorf("unexpected rebuild of %s", group)
		},
		InPlace: func(ctx context.Context, group string, o InPlaceOptions) (inplace.Summary, error) {
			defer f.enter()()
			f.mu.Lock()
			f.inplace[group] = o
			f.mu.Unlock()
			up := func(name string) inplace.ServerResult {
				r := server(name, inplace.StatusSucceeded, inplace.PhaseDone, 0, 0, 0)
				r.Security.Installed = []inplace.Change{{Name: "libssl3", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1"}, {Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1"}}
				return r
			}
			switch group {
			case "db":
				r := up("db-0")
				r.Reboot = &inplace.RebootResult{Policy: inplace.RebootIfRequired, Wanted: true, Done: true, Downtime: 4200 * time.Millisecond}
				return inplace.Summary{Run: "ip-db", Group: group, Status: store.InplaceSucceeded, Succeeded: 1, Servers: []inplace.ServerResult{r}}, nil
			case "cache", "worker":
				return inplace.Summary{Run: "ip-" + group, Group: group, Status: store.InplaceSucceeded, Succeeded: 1, Servers: []inplace.ServerResult{up(group + "-0")}}, nil
			}
			return inplace.Summary{}, fmt.Errorf("unexpected in-place run of %s", group)
		},
		Now: func() time.Time { return decideAt },
	}
}

func newFakeEmergency() *fakeEmergency {
	return &fakeEmergency{rebuiltOn: map[string]string{}, inplace: map[string]InPlaceOptions{},
		build: imagebuild.Result{Family: "debian-12", BuildID: "b1", Status: "active", Version: "2026.11.2", ImageID: "img-2",
			Changes: []debian.Change{
				{Name: "libssl3", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1", Suite: "bookworm-security", Security: true},
				{Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1", Suite: "bookworm-security", Security: true},
				{Name: "tzdata", From: "2024a-0+deb12u1", To: "2025b-0+deb12u1", Suite: "bookworm-updates"},
			}}}
}

// The report: the image built, each target's outcome, and the security packages that
// changed, per target and over all, counted over the servers rebuilt or patched.
func TestRunEmergencyReportGolden(t *testing.T) {
	t.Parallel()
	plan, err := PlanEmergency(decideAt, "CVE-2026-1234 in openssl", emergencyFacts())
	require.NoError(t, err)
	f := newFakeEmergency()
	rep, err := RunEmergency(context.Background(), f.deps(), plan, 2)
	require.ErrorIs(t, err, ErrEmergencyFailed)
	require.ErrorContains(t, err, "api (slot 1: health check failed: connection refused)")
	assert.Equal(t, ResultFailed, rep.Status)
	checkGolden(t, "emergency-report", rep.String())

	assert.Empty(t, f.early, "rebuilds wait for their family's build")
	assert.LessOrEqual(t, f.maxSeen.Load(), int32(2), "at most --concurrency at once")
	assert.Equal(t, map[string]string{"web": "2026.11.2", "api": "2026.11.2"}, f.rebuiltOn)
	assert.Equal(t, InPlaceOptions{Options: EmergencyOptions}, f.inplace["db"])
	assert.Equal(t, inplace.RebootIfRequired, f.inplace["db"].RebootPolicy())
	assert.Contains(t, rep.Packages, PackageTransition{Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.13-1~deb12u1", Servers: 6, Of: 8})
	assert.Equal(t, 8, rep.Servers, "web 3 replaced (its created slot is not counted), api 2, db, cache, worker")
	assert.False(t, rep.NothingChanged())

	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	var back EmergencyReport
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, rep.Packages, back.Packages)
	assert.Equal(t, "rebuilt", back.Targets[0].Result)
}

// When the check finds nothing pending, the report says nothing changed; a failed build
// fails its groups' rebuilds but not the pets' in-place runs.
func TestRunEmergencyNothingChangedAndFailedBuild(t *testing.T) {
	t.Parallel()
	blue := with(webFacts(), func(f *Facts) { f.Target = "blue" })
	plan, err := PlanEmergency(decideAt, "CVE-2026-1234 in openssl", []EmergencyFacts{{Facts: blue}})
	require.NoError(t, err)
	f := newFakeEmergency()
	f.build = imagebuild.Result{Family: "debian-12", BuildID: "b2", Status: "skipped", Version: "2026.11.1", ImageID: "img-1",
		SkipReason: "no pending security updates for 2026.11.1 (checked on a server booted from it)"}
	rep, err := RunEmergency(context.Background(), f.deps(), plan, 4)
	require.NoError(t, err)
	assert.True(t, rep.NothingChanged())
	checkGolden(t, "emergency-report-nothing-changed", rep.String())
	assert.Equal(t, "2026.11.1", f.rebuiltOn["blue"], "rebuilt onto the active version: slots on it are left alone")

	plan, err = PlanEmergency(decideAt, "CVE-2026-1234 in openssl", []EmergencyFacts{{Facts: webFacts()}, {Facts: dbFacts()}})
	require.NoError(t, err)
	f = newFakeEmergency()
	f.build = imagebuild.Result{Family: "debian-12", BuildID: "b3", Status: "failed", FailedStep: "verify"}
	f.buildErr = fmt.Errorf("%w: step %q: health check failed", imagebuild.ErrBuildFailed, "verify")
	rep, err = RunEmergency(context.Background(), f.deps(), plan, 4)
	require.ErrorIs(t, err, ErrEmergencyFailed)
	checkGolden(t, "emergency-report-build-failed", rep.String())
	assert.NotContains(t, f.rebuiltOn, "web")
	assert.Contains(t, f.inplace, "db", "the pet is patched all the same")
}

// The emergency kind checks its target and options, plans, runs and records the
// decisions, rollouts, counts and the package transitions.
func TestEmergencyJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeEmergency()
	facts := map[string]EmergencyFacts{}
	for _, x := range emergencyFacts() {
		facts[x.Target] = x
	}
	h := EmergencyHandler{
		Groups: func() []string { return []string{"web", "db"} },
		Facts:  func(ctx context.Context, g string) (EmergencyFacts, error) { return facts[g], nil },
		Deps:   func(ctx context.Context, resume bool) (EmergencyDeps, error) { return f.deps(), nil },
	}
	q := newKindQueue(t, Registry{KindEmergency: h})
	var bad BadRequestError
	for _, c := range []struct{ target, options, want string }{
		{"nope", `{}`, `group "nope" is not in the manifest`},
		{"web,web", `{}`, "target web given twice"},
		{"all", `{"reason":"x","color":"red"}`, "unknown field"},
		{"all", `{"concurrency":-1}`, "want at least 1"},
		{"all", `{"reason":"two\nlines"}`, "reason: one line"},
	} {
		_, err := q.Insert(ctx, JobRequest{Kind: KindEmergency, Target: c.target, Options: json.RawMessage(c.options)}, nil)
		require.ErrorAs(t, err, &bad, c.target)
		require.ErrorContains(t, err, c.want)
	}
	j, err := q.Insert(ctx, JobRequest{Kind: KindEmergency, Target: "all", Options: json.RawMessage(`{"reason":"CVE-2026-1234 in openssl","concurrency":2}`)}, nil)
	require.NoError(t, err)
	done := waitStatus(t, q, j.ID, StatusSucceeded)
	assert.Equal(t, 1+3+1+2, done.Installed, "the image, web's 3 replaced and 1 created server, db's 2 updates")
	assert.Equal(t, 0, done.Failed)
	assert.Equal(t, []string{"r-web"}, done.Rollouts)
	assert.Equal(t, "emergency security rollout of web, db requested by hand; reason: CVE-2026-1234 in openssl", done.Decisions[0])
	all := strings.Join(done.Decisions, "\n")
	assert.Contains(t, all, "image debian-12: built 2026.11.2 out of cycle (was 2026.11.1)")
	assert.Contains(t, all, "web: rebuilt: rebuilt onto debian-12 2026.11.2: 3 servers replaced, 1 created (rollout r-web)")
	assert.Contains(t, all, "db: patched: patched in place (run ip-db): 1 server, 2 security updates installed, 1 reboot (downtime 4.2s in all)")
	assert.Contains(t, all, "security package now installed: openssl 3.0.11-1~deb12u1 → 3.0.13-1~deb12u1 on 3/4 servers")
	assert.Contains(t, all, "security package now installed: openssl 3.0.9-1 → 3.0.13-1~deb12u1 on 1/4 servers")
}

// An emergency job stopped after its image was published (the process went away before
// the attempt could say so) and run again reports that image as built, by the earlier
// attempt: it neither checks the family again nor builds a second image, and the groups
// are rebuilt onto it.
func TestEmergencyJobResumedReportsTheEarlierBuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var (
		mu     sync.Mutex
		active = catalog.Entry{Family: "debian-12", Version: catalog.Version{Year: 2026, Month: 11, N: 1}, State: catalog.Active,
			Image: openstack.Image{ID: "img-1", Properties: map[string]string{catalog.PropBuildID: "b0"}}}
		builds    atomic.Int32
		published = make(chan struct{})
	)
	f := newFakeEmergency()
	deps := f.deps()
	deps.Build = func(ctx context.Context, family, reason string) (imagebuild.Result, error) {
		builds.Add(1)
		mu.Lock()
		cur := active
		mu.Unlock()
		if cur.Version.String() != "2026.11.1" {
			// As imagebuild's security check does on the version just built.
			return imagebuild.Result{Family: family, BuildID: "b2", Status: "skipped", Version: cur.Version.String(), ImageID: cur.Image.ID,
				SkipReason: "no pending security updates for " + cur.Version.String() + " (checked on a server booted from it)"}, nil
		}
		// Built and published, with the reason recorded on the image; then the process
		// goes away before the build returns.
		mu.Lock()
		active = catalog.Entry{Family: family, Version: catalog.Version{Year: 2026, Month: 11, N: 2}, State: catalog.Active,
			Image: openstack.Image{ID: "img-2", Properties: map[string]string{catalog.PropBuildID: "b1", catalog.PropBuildReason: reason}}}
		mu.Unlock()
		close(published)
		<-ctx.Done()
		return imagebuild.Result{}, ctx.Err()
	}
	deps.Image = func(ctx context.Context, family, version string) (catalog.Entry, error) {
		mu.Lock()
		defer mu.Unlock()
		if family == active.Family && version == active.Version.String() {
			return active, nil
		}
		return catalog.Entry{}, fmt.Errorf("%s %s: %w", family, version, catalog.ErrUnknownVersion)
	}
	h := EmergencyHandler{
		Groups: func() []string { return []string{"web"} },
		Facts: func(ctx context.Context, g string) (EmergencyFacts, error) {
			mu.Lock()
			defer mu.Unlock()
			return EmergencyFacts{Facts: with(webFacts(), func(f *Facts) { f.Image = "debian-12 " + active.Version.String() })}, nil
		},
		Deps: func(ctx context.Context, resume bool) (EmergencyDeps, error) { return deps, nil },
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	cfg := QueueConfig{Workers: 1, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second}
	q1, err := NewQueue(ctx, st, Registry{KindEmergency: h}, cfg)
	require.NoError(t, err)
	require.NoError(t, q1.Start(ctx))
	j, err := q1.Insert(ctx, JobRequest{Kind: KindEmergency, Target: "web", Options: json.RawMessage(`{"reason":"CVE-2026-1234 in openssl"}`)}, nil)
	require.NoError(t, err)
	<-published
	require.NoError(t, q1.Stop(ctx)) // the attempt is cut short; the job is left to resume

	q2, err := NewQueue(ctx, st, Registry{KindEmergency: h}, cfg)
	require.NoError(t, err)
	require.NoError(t, q2.Start(ctx))
	t.Cleanup(func() { q2.Stop(context.Background()) })
	done := waitStatus(t, q2, j.ID, StatusSucceeded)
	require.Equal(t, int32(1), builds.Load(), "one build; the resumed attempt neither checks nor builds again")
	mu.Lock()
	require.True(t, isJobReason(active.Image.Properties[catalog.PropBuildReason], "CVE-2026-1234 in openssl"), "the image names the job: %q",
		active.Image.Properties[catalog.PropBuildReason])
	mu.Unlock()
	f.mu.Lock()
	require.Equal(t, "2026.11.2", f.rebuiltOn["web"], "web rebuilt onto the earlier attempt's image")
	f.mu.Unlock()
	all := strings.Join(done.Decisions, "\n")
	require.Contains(t, all, "an earlier attempt was cut short", "the second run resumed")
	require.Contains(t, all, "image debian-12: built 2026.11.2 out of cycle by an earlier attempt of this job, cut short after publishing it (image img-2, build b1); not built again")
	require.NotContains(t, all, "nothing changed, no build")
	require.Contains(t, all, "web: rebuilt: rebuilt onto debian-12 2026.11.2: 3 servers replaced, 1 created (rollout r-web)")
	require.GreaterOrEqual(t, done.Installed, 1+3+1, "the image and web's servers")
}

// An emergency job with a maintenance window, killed mid-run and rescued after the window
// closed, does not refuse up front: the rebuild and the in-place run are resumed with the
// window end as their deadline (they finish what was under way and start nothing new),
// and no image is checked or built.
func TestEmergencyJobResumedAfterItsWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeEmergency()
	deps := f.deps()
	var builds atomic.Int32
	ends := make(chan string, 4)
	deps.Build = func(ctx context.Context, family, reason string) (imagebuild.Result, error) {
		builds.Add(1)
		return imagebuild.Result{}, errors.New("not expected: the window closed")
	}
	rebuild, patch := deps.Rebuild, deps.InPlace
	deps.Rebuild = func(ctx context.Context, group, version string) (failover.RebuildResult, error) {
		ends <- "rebuild " + group + " " + WindowEnd(ctx).UTC().Format(time.RFC3339)
		res, _ := rebuild(ctx, group, version)
		return res, fmt.Errorf("%w at %s: 1 of 4 slots replaced; left: web-1, web-2, web-3", failover.ErrDeadline, WindowEnd(ctx).UTC().Format(time.RFC3339))
	}
	deps.InPlace = func(ctx context.Context, group string, o InPlaceOptions) (inplace.Summary, error) {
		ends <- "inplace " + group + " " + WindowEnd(ctx).UTC().Format(time.RFC3339)
		return patch(ctx, group, o)
	}
	facts := map[string]EmergencyFacts{}
	for _, x := range emergencyFacts() {
		facts[x.Target] = x
	}
	h := EmergencyHandler{
		Groups: func() []string { return []string{"web", "db"} },
		Facts:  func(ctx context.Context, g string) (EmergencyFacts, error) { return facts[g], nil },
		Deps:   func(ctx context.Context, resume bool) (EmergencyDeps, error) { return deps, nil },
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	clock := &offsetClock{}
	q, err := NewQueue(ctx, st, Registry{KindEmergency: h}, QueueConfig{Workers: 1, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second, Now: clock.Now})
	require.NoError(t, err)
	run := Run{Start: clock.Now().Add(-time.Minute), End: clock.Now().Add(time.Hour)}
	j, err := q.Insert(ctx, JobRequest{Kind: KindEmergency, Target: "web,db", Options: json.RawMessage(`{"reason":"CVE-2026-1234 in openssl"}`), Run: &run}, nil)
	require.NoError(t, err)
	// Its first attempt died (kill -9) mid-run: running, its lease expired.
	_, err = st.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now') WHERE id = ?`, j.ID)
	require.NoError(t, err)
	require.NoError(t, st.JobStarted(ctx, j.ID, clock.Now()))
	_, err = st.AcquireLease(ctx, jobLeaseKey(j.ID), store.LeaseHolder{Host: "gone", PID: 42}, time.Millisecond, time.Now())
	require.NoError(t, err)

	clock.set(2 * time.Hour) // rescued after the window closed
	rescued, err := q.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{j.ID}, rescued)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })
	failed := waitStatus(t, q, j.ID, StatusFailed)
	close(ends)
	var got []string
	for e := range ends {
		got = append(got, e)
	}
	end := run.End.UTC().Format(time.RFC3339)
	require.ElementsMatch(t, []string{"rebuild web " + end, "inplace db " + end}, got, "resumed with the window end as the deadline; job: %s", failed.Reason)
	require.Zero(t, builds.Load(), "no image check or build after the window")
	all := strings.Join(failed.Decisions, "\n")
	require.Contains(t, all, "image debian-12: not checked or built: the maintenance window closed at "+end+"; the groups are rebuilt onto 2026.11.1 only where a slot was under way")
	require.Contains(t, failed.Reason, "web (maintenance window closed at "+end+": 1 of 4 slots replaced; left: web-1, web-2, web-3)")
}
