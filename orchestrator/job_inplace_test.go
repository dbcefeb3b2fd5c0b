package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/store"
)

// fakePatcher stands in for the in-place use case (inplace.Prepare and inplace.Run over
// SSH, which needs real hosts: inplace's and e2e's tests run it). It returns a summary per
// group and records what it was asked.
type fakePatcher struct {
	mu    sync.Mutex
	calls map[string]InPlaceOptions
	sums  map[string]inplace.Summary
}

func (f *fakePatcher) patch(ctx context.Context, group string, o InPlaceOptions, resume bool, progress func(inplace.ServerResult)) (inplace.Summary, error) {
	f.mu.Lock()
	f.calls[group] = o
	sum := f.sums[group]
	f.mu.Unlock()
	for _, r := range sum.Servers {
		progress(inplace.ServerResult{Server: r.Server, Status: inplace.StatusRunning, Phase: inplace.PhaseSecurity})
		progress(r)
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%w: %s", inplace.ErrFailed, sum.Error)
	}
	return sum, nil
}

func (f *fakePatcher) called(group string) (InPlaceOptions, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.calls[group]
	return o, ok
}

func server(name, status, phase string, installed, failed int, reboot time.Duration) inplace.ServerResult {
	r := inplace.ServerResult{Server: inplace.Server{ID: "id-" + name, Name: name}, Status: status, Phase: phase, Security: &inplace.SecurityResult{}}
	for i := range installed {
		r.Security.Installed = append(r.Security.Installed, inplace.Change{Name: fmt.Sprintf("pkg%d", i), From: "1", To: "2"})
	}
	for i := range failed {
		r.Security.Failed = append(r.Security.Failed, inplace.Change{Name: fmt.Sprintf("bad%d", i), From: "1", To: "2", Error: "dpkg"})
	}
	if reboot > 0 {
		r.Reboot = &inplace.RebootResult{Policy: inplace.RebootIfRequired, Wanted: true, Done: true, Downtime: reboot}
	}
	if status == inplace.StatusFailed {
		r.Error = "apt exited 100"
	}
	return r
}

func newKindQueue(t *testing.T, reg Registry) *Queue {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := NewQueue(ctx, st, reg, QueueConfig{Workers: 3, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second})
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })
	return q
}

// The inplace kind checks its options before the job is queued, runs the in-place use
// case with them (reboot_if_required → reboot policy if-required, none → never) and
// records the updates installed and failed, the reboots and the failure.
func TestInPlaceJobRecordsUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := &fakePatcher{calls: map[string]InPlaceOptions{}, sums: map[string]inplace.Summary{
		"db": {Run: "ip-1", Group: "db", Status: store.InplaceSucceeded, Succeeded: 2, Servers: []inplace.ServerResult{
			server("db-0", inplace.StatusSucceeded, inplace.PhaseDone, 3, 0, 4*time.Second),
			server("db-1", inplace.StatusSucceeded, inplace.PhaseDone, 3, 0, 0),
		}},
		"cache": {Run: "ip-2", Group: "cache", Status: store.InplaceFailed, Succeeded: 1, Failed: 1, Error: "1 of 2 servers failed, 0 not started", Servers: []inplace.ServerResult{
			server("cache-0", inplace.StatusSucceeded, inplace.PhaseDone, 2, 0, 0),
			server("cache-1", inplace.StatusFailed, inplace.PhaseSecurity, 1, 1, 0),
		}},
	}}
	groups := func(name string) bool { return name == "db" || name == "cache" }
	q := newKindQueue(t, Registry{KindInPlace: InPlaceHandler{Groups: groups, Patch: p.patch}})

	var bad BadRequestError
	for _, c := range []struct{ target, options, want string }{
		{"nope", `{"apply_security_upgrades":true}`, `group "nope" is not in the manifest`},
		{"db", `{"apply_security_upgrades":true,"color":"red"}`, "unknown field"},
		{"db", `{}`, "nothing to do in place"},
		{"db", `{"reboot_if_required":true}`, "reboot_if_required alone installs nothing"},
		{"db", `{"apply_security_upgrades":true,"reboot":"sometimes"}`, "want never, if-required or always"},
	} {
		_, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: c.target, Options: json.RawMessage(c.options)}, nil)
		require.ErrorAs(t, err, &bad, c.options)
		require.ErrorContains(t, err, c.want)
	}

	db, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "db", Options: json.RawMessage(`{"apply_security_upgrades":true,"reboot_if_required":true}`)}, nil)
	require.NoError(t, err)
	cache, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "cache", Options: json.RawMessage(`{"apply_security_upgrades":true}`)}, nil)
	require.NoError(t, err)

	ok := waitStatus(t, q, db.ID, StatusSucceeded)
	require.Equal(t, 6, ok.Installed)
	require.Equal(t, 0, ok.Failed)
	require.Equal(t, []string{
		"in-place db: requested by hand (security upgrades, reboot if required, reboot if-required)",
		"in-place run ip-1 of db: succeeded; 2 of 2 servers succeeded, 0 failed, 0 not started; 6 updates installed, 0 failed, 1 reboot (downtime 4s in all)",
	}, ok.Decisions)
	o, _ := p.called("db")
	require.Equal(t, inplace.RebootIfRequired, o.RebootPolicy())

	failed := waitStatus(t, q, cache.ID, StatusFailed)
	require.Equal(t, 3, failed.Installed)
	require.Equal(t, 1, failed.Failed)
	require.Contains(t, failed.Reason, "in-place run failed: 1 of 2 servers failed")
	o, _ = p.called("cache")
	require.Equal(t, inplace.RebootNever, o.RebootPolicy(), "no reboot_if_required: no reboot")
	var sawFail bool
	for _, e := range failed.Events {
		sawFail = sawFail || (e.Level == "error" && e.Message == "in-place cache-1: phase security, failed: apt exited 100")
	}
	require.True(t, sawFail, "%+v", failed.Events)
}

// The update kind asks the policy: a pet with options is patched in place, a pet
// without any is skipped (and says why), a replaceable group behind an address with an
// image is rebuilt through failover (here its wiring fails, which fails the job with why,
// and nothing is patched).
func TestUpdateJobFollowsThePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := &fakePatcher{calls: map[string]InPlaceOptions{}, sums: map[string]inplace.Summary{
		"db": {Run: "ip-1", Group: "db", Status: store.InplaceSucceeded, Succeeded: 1, Servers: []inplace.ServerResult{
			server("db-0", inplace.StatusSucceeded, inplace.PhaseDone, 2, 0, 0),
		}},
	}}
	facts := map[string]Facts{
		"db":     {Target: "db", Replaceable: false, Servers: 1, Family: "debian-12", Image: "debian-12 2026.11.1"},
		"legacy": {Target: "legacy", Replaceable: false, Servers: 1},
		"web":    {Target: "web", Replaceable: true, Servers: 2, Family: "debian-12", Image: "debian-12 2026.11.1", Addresses: 2, Surge: Surge{Servers: 1, VCPUs: 1, RAM: 512}},
	}
	groups := func(name string) bool { _, ok := facts[name]; return ok }
	inplaceKind := InPlaceHandler{Groups: groups, Patch: p.patch}
	h := UpdateHandler{Groups: groups, InPlace: inplaceKind,
		Facts: func(ctx context.Context, group string) (Facts, error) { return facts[group], nil },
		Rebuild: RebuildHandler{Groups: groups, Deps: func(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error) {
			return failover.Deps{}, errors.New("connect to the cloud: unreachable")
		}},
	}
	q := newKindQueue(t, Registry{KindUpdate: h})
	_, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: "db", Options: json.RawMessage(`{"reboot":"often"}`)}, nil)
	var bad BadRequestError
	require.ErrorAs(t, err, &bad)

	pet, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: "db", Schedule: "weekly-db", Options: json.RawMessage(`{"apply_security_upgrades":true}`)}, nil)
	require.NoError(t, err)
	j := waitStatus(t, q, pet.ID, StatusSucceeded)
	require.Equal(t, 2, j.Installed)
	require.Equal(t, "update db requested by schedule weekly-db: in-place: group db is replaceable: false (a stateful pet)", j.Decisions[0])
	_, called := p.called("db")
	require.True(t, called)

	legacy, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: "legacy", Options: json.RawMessage(`{}`)}, nil)
	require.NoError(t, err)
	j = waitStatus(t, q, legacy.ID, StatusSucceeded)
	require.Contains(t, j.Decisions[0], "skip: in-place: group legacy is replaceable: false (a stateful pet); no image to rebuild onto; and no in-place option was asked for")
	_, called = p.called("legacy")
	require.False(t, called)

	web, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: "web", Options: json.RawMessage(`{"apply_security_upgrades":true}`)}, nil)
	require.NoError(t, err)
	j = waitStatus(t, q, web.ID, StatusFailed)
	require.True(t, strings.HasPrefix(j.Decisions[0], "update web requested by hand: rebuild: replaceable, onto debian-12 2026.11.1, behind 2 failover addresses"), j.Decisions[0])
	require.Contains(t, j.Reason, "connect to the cloud: unreachable")
	_, called = p.called("web")
	require.False(t, called, "a rebuild patches nothing in place")
}

// An update on one slot (target group/<slot>) runs the policy's choice on that slot only:
// in place, the patcher is told the slot; a rebuild gets the group's use cases and the
// rollout is narrowed to the slot. The decisions say which path was taken; a malformed
// slot target is refused before the job is queued.
func TestUpdateJobOnOneSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := &fakePatcher{calls: map[string]InPlaceOptions{}, sums: map[string]inplace.Summary{
		"db": {Run: "ip-1", Group: "db", Status: store.InplaceSucceeded, Succeeded: 1, Servers: []inplace.ServerResult{
			server("db-1", inplace.StatusSucceeded, inplace.PhaseDone, 3, 0, 0),
		}},
	}}
	facts := map[string]Facts{
		"db":  {Target: "db", Replaceable: false, Servers: 2, Family: "debian-12", Image: "debian-12 2026.11.1"},
		"web": {Target: "web", Replaceable: true, Servers: 2, Family: "debian-12", Image: "debian-12 2026.11.1", Addresses: 2, Surge: Surge{Servers: 1, VCPUs: 1, RAM: 512}},
	}
	groups := func(name string) bool { _, ok := facts[name]; return ok }
	var mu sync.Mutex
	var depsFor []string
	h := UpdateHandler{Groups: groups, InPlace: InPlaceHandler{Groups: groups, Patch: p.patch},
		Facts: func(ctx context.Context, group string) (Facts, error) { return facts[group], nil },
		Rebuild: RebuildHandler{Groups: groups, Deps: func(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error) {
			mu.Lock()
			depsFor = append(depsFor, group)
			mu.Unlock()
			return failover.Deps{}, errors.New("connect to the cloud: unreachable")
		}},
	}
	q := newKindQueue(t, Registry{KindUpdate: h})
	for _, target := range []string{"db/x", "db/-1", "db/", "nope/0"} {
		_, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: target}, nil)
		var bad BadRequestError
		require.ErrorAs(t, err, &bad, target)
	}

	pet, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: SlotTarget("db", 1), Options: json.RawMessage(`{"apply_security_upgrades":true}`)}, nil)
	require.NoError(t, err)
	j := waitStatus(t, q, pet.ID, StatusSucceeded)
	require.Equal(t, 3, j.Installed)
	require.Contains(t, j.Decisions, "path: in place on the server of slot 1 of group db only")
	o, called := p.called("db")
	require.True(t, called, "the patcher is given the group")
	require.NotNil(t, o.Slot)
	require.Equal(t, 1, *o.Slot)

	web, err := q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: SlotTarget("web", 0), Options: json.RawMessage(`{"apply_security_upgrades":true}`)}, nil)
	require.NoError(t, err)
	j = waitStatus(t, q, web.ID, StatusFailed)
	require.Contains(t, j.Decisions, "path: rebuild of slot 0 of group web only (the other slots are kept)")
	mu.Lock()
	require.Equal(t, []string{"web"}, depsFor, "the rebuild wires the group's use cases")
	mu.Unlock()
}

// An inplace job on a group the policy would rebuild is refused with the policy's reason,
// as the local `remint inplace` refuses it, unless forced (deploy --in-place, inplace
// --force, a schedule whose action is inplace); a pet is patched without force.
func TestInPlaceJobAsksThePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := &fakePatcher{calls: map[string]InPlaceOptions{}, sums: map[string]inplace.Summary{
		"web": {Run: "ip-web", Group: "web", Status: store.InplaceSucceeded},
		"db":  {Run: "ip-db", Group: "db", Status: store.InplaceSucceeded},
	}}
	facts := func(_ context.Context, group string) (Facts, error) {
		if group == "db" {
			return dbFacts(), nil
		}
		return webFacts(), nil
	}
	q := newKindQueue(t, Registry{KindInPlace: InPlaceHandler{Groups: func(string) bool { return true }, Patch: p.patch, Facts: facts}})
	sec := `{"apply_security_upgrades":true`

	web, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "web", Options: json.RawMessage(sec + `}`)}, nil)
	require.NoError(t, err)
	j := waitStatus(t, q, web.ID, StatusFailed)
	require.Contains(t, j.Reason, "in place on web refused: the policy (rebuild first) says")
	require.Contains(t, j.Reason, "or set force to patch in place anyway")
	p.mu.Lock()
	_, patched := p.calls["web"]
	p.mu.Unlock()
	require.False(t, patched, "nothing was patched")

	forced, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "web", Options: json.RawMessage(sec + `,"force":true}`)}, nil)
	require.NoError(t, err)
	j = waitStatus(t, q, forced.ID, StatusSucceeded)
	require.Contains(t, strings.Join(j.Decisions, "\n"), "in place although the policy would rebuild (forced)")

	db, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "db", Options: json.RawMessage(sec + `}`)}, nil)
	require.NoError(t, err)
	waitStatus(t, q, db.ID, StatusSucceeded)
}
