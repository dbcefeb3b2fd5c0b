package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// waitingEvents are a job's "waiting for …" events.
func waitingEvents(j orchestrator.Job) []string {
	var out []string
	for _, e := range j.Events {
		if strings.HasPrefix(e.Message, "waiting for ") {
			out = append(out, e.Message)
		}
	}
	return out
}

// An emergency job queued while another command holds group web's lease for far longer
// than the 3 TTLs a job waits for a dead holder's lease waits for it (the job's events
// say once what it waits for, and since when), and rebuilds web once the lease is
// released. The job runs as remint serve wires it (emergencyEnv, real leases on the
// SQLite state, failover on the loopback simulator); only the image check, which boots a
// server and asks apt over SSH, is replaced by "no pending security updates".
func TestEmergencyJobWaitsForABusyGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	ttl := time.Second
	t.Setenv(lease.EnvTTL, ttl.String())
	w := startWorld(t, leaseManifest, 100*time.Millisecond)
	w.register("debian-12-a")
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")

	ctx := context.Background()
	log, err := newLogger(io.Discard)
	require.NoError(t, err)
	m, err := loadManifest(w.mf)
	require.NoError(t, err)
	st, err := openStore(ctx, m)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := &jobEnv{m: m, store: st, log: log, ttl: ttl}
	reg := e.registry()
	h := reg[orchestrator.KindEmergency].(orchestrator.EmergencyHandler)
	deps := h.Deps
	h.Deps = func(ctx context.Context, resume bool) (orchestrator.EmergencyDeps, error) {
		d, err := deps(ctx, resume)
		d.Build = func(ctx context.Context, family, reason string) (imagebuild.Result, error) {
			latest, err := w.cat.Latest(ctx, family)
			if err != nil {
				return imagebuild.Result{}, err
			}
			return imagebuild.Result{Family: family, Status: "skipped", Version: latest.Version.String(), ImageID: latest.Image.ID,
				SkipReason: "no pending security updates"}, nil
		}
		return d, err
	}
	reg[orchestrator.KindEmergency] = h
	q, err := orchestrator.NewQueue(ctx, st, reg, orchestrator.QueueConfig{Workers: 2, PollInterval: 20 * time.Millisecond, LeaseTTL: ttl,
		Logger: log, Holder: lease.Self("remint serve (2 workers)", time.Now())})
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })

	// Another command changes group web, its lease renewed all along.
	busy := &lease.Manager{Store: st, TTL: ttl, Holder: lease.Self("remint inplace web", time.Now())}
	held, err := busy.Acquire(ctx, lease.GroupKey("web"))
	require.NoError(t, err)
	t.Cleanup(func() { held.Release(context.Background()) })

	job, err := q.Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindEmergency, Target: "web",
		Options: json.RawMessage(`{"reason":"CVE-2026-1234"}`), RequestedBy: "test"}, nil)
	require.NoError(t, err)
	var j orchestrator.Job
	require.Eventually(t, func() bool {
		j, err = q.Get(ctx, job.ID)
		require.NoError(t, err)
		return len(waitingEvents(j)) > 0 || j.Status == orchestrator.StatusFailed
	}, time.Minute, 20*time.Millisecond, "the job says it waits for group web")
	require.NotEqual(t, orchestrator.StatusFailed, j.Status, "reason %q; events %+v", j.Reason, j.Events)
	require.Regexp(t, "^waiting for group web: held by `remint inplace web` \\(pid \\d+ on host \\S+\\) since \\S+Z$", waitingEvents(j)[0])

	// Held past 3 TTLs (the wait that made it fail busy before): still waiting.
	time.Sleep(4 * ttl)
	j, err = q.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, orchestrator.StatusRunning, j.Status, "reason %q; events %+v", j.Reason, j.Events)

	require.NoError(t, held.Release(ctx))
	require.Eventually(t, func() bool {
		j, err = q.Get(ctx, job.ID)
		require.NoError(t, err)
		return j.Status == orchestrator.StatusSucceeded || j.Status == orchestrator.StatusFailed
	}, 2*time.Minute, 50*time.Millisecond, "the job ends")
	require.Equal(t, orchestrator.StatusSucceeded, j.Status, "reason %q; events %+v", j.Reason, j.Events)
	require.Len(t, waitingEvents(j), 1, "said once: %+v", j.Events)
	require.Equal(t, 2, j.Installed, "both servers replaced")
	require.Len(t, j.Rollouts, 1)
	w.assertServing(version)
}

// `remint emergency` (the real binary) finds the family's image busy with a build run by
// hand: it waits past 3 TTLs rather than failing busy, prints once what it waits for, and
// takes the family's lease as soon as it is released (its check then runs; the test
// stops it there with Ctrl-C: the loopback servers have no SSH).
func TestEmergencyCommandWaitsForABusyFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator and the remint binary")
	}
	remintBinary(t)
	ttl := time.Second
	w := startWorld(t, leaseManifest, 100*time.Millisecond)
	w.register("debian-12-a")
	ctx := context.Background()
	m, err := loadManifest(w.mf)
	require.NoError(t, err)
	st, err := openStore(ctx, m)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	busy := &lease.Manager{Store: st, TTL: ttl, Holder: lease.Self("remint image build debian-12", time.Now())}
	held, err := busy.Acquire(ctx, lease.FamilyKey("debian-12"))
	require.NoError(t, err)
	t.Cleanup(func() { held.Release(context.Background()) })

	p := w.start([]string{lease.EnvTTL + "=" + ttl.String()}, "emergency", "--security", "web", "--reason", "CVE-2026-1234")
	waitLine := regexp.MustCompile("(?m)^[0-9:]{8} waiting for image family debian-12: held by `remint image build debian-12` \\(pid \\d+ on host \\S+\\) since \\S+Z$")
	require.Eventually(t, func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		return waitLine.MatchString(p.stdout.String())
	}, time.Minute, 20*time.Millisecond, "the command says what it waits for: %s", p)
	time.Sleep(4 * ttl)
	select {
	case <-p.done:
		t.Fatalf("the command ended while the family was busy: %s", p)
	default:
	}

	require.NoError(t, held.Release(ctx))
	var cur store.Lease
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		cur, err = st.GetLease(ctx, lease.FamilyKey("debian-12"))
		if err == nil && strings.HasPrefix(cur.Holder.Command, "remint emergency web ") {
			break
		}
		require.True(t, time.Now().Before(deadline), "the command takes the family's lease once released: %+v, %v; %s", cur, err, p)
	}
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	p.wait(t)
	require.Len(t, waitLine.FindAllString(p.stdout.String(), -1), 1, "said once: %s", p)
}
