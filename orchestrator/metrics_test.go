package orchestrator

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
)

// gathered returns the value of the series name{labels} (a histogram's sample count and
// sum), and whether it exists.
func gathered(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (value, sum float64, ok bool) {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), 0, true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), 0, true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum(), true
			}
		}
	}
	return 0, 0, false
}

// A rollout's events make its duration, its address moves (to the replacement and back)
// and its failed health checks (a failure while a slot was checking, or gating through
// the address).
func TestMetricsFromRolloutEvents(t *testing.T) {
	t.Parallel()
	m := NewMetrics(MetricsOptions{})
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ev := func(sec, slot int, step string, failed bool) {
		m.RolloutEvent(failover.Event{Time: t0.Add(time.Duration(sec) * time.Second), Rollout: "r1", Group: "web", Slot: slot, Step: step, Failed: failed})
	}
	ev(0, -1, "planned", false)
	ev(1, 0, failover.StateCreating, false)
	ev(2, 0, failover.StateChecking, false)
	ev(3, 0, failover.StateFailing, true) // unhealthy before the move
	ev(4, 1, failover.StateChecking, false)
	ev(5, 1, failover.StateHealthy, false)
	ev(6, 1, failover.StateMoving, false)
	ev(7, 1, failover.StateGating, false) // the address moved
	ev(8, 1, failover.StateFailing, true) // unhealthy through the address
	ev(9, 1, "moved-back", false)
	ev(10, 0, failover.StateFailing, true) // cleanup trouble after failing: not a health check
	ev(42, -1, "rolled-back", false)

	reg := m.Registry()
	v, _, ok := gathered(t, reg, "remint_health_check_failures_total", map[string]string{"group": "web"})
	require.True(t, ok)
	require.Equal(t, 2.0, v)
	v, _, _ = gathered(t, reg, "remint_failover_moves_total", map[string]string{"group": "web", "direction": "to-replacement"})
	require.Equal(t, 1.0, v)
	v, _, _ = gathered(t, reg, "remint_failover_moves_total", map[string]string{"group": "web", "direction": "back"})
	require.Equal(t, 1.0, v)
	n, sum, ok := gathered(t, reg, "remint_rollout_duration_seconds", map[string]string{"group": "web", "result": "rolled-back"})
	require.True(t, ok)
	require.Equal(t, 1.0, n)
	require.Equal(t, 42.0, sum)
	require.Empty(t, m.rollouts, "a finished rollout is forgotten")

	m.InPlaceCounted("db", 7, 1)
	m.InPlaceCounted("db", 3, 0)
	v, _, _ = gathered(t, reg, "remint_inplace_updates_installed_total", map[string]string{"group": "db"})
	require.Equal(t, 10.0, v)
	v, _, _ = gathered(t, reg, "remint_inplace_updates_failed_total", map[string]string{"group": "db"})
	require.Equal(t, 1.0, v)

	m.JobEnded(JobEnd{Kind: KindBuildImage, Target: "debian-12", Status: StatusSucceeded, Duration: 90 * time.Second})
	n, sum, _ = gathered(t, reg, "remint_image_build_duration_seconds", map[string]string{"family": "debian-12", "status": "succeeded"})
	require.Equal(t, 1.0, n)
	require.Equal(t, 90.0, sum)
}

// Schedule lag is fired - due, observed by the daemon when it queues a run; jobs by kind
// and status are read from the store at scrape time; a job's end is observed with its
// status.
func TestMetricsScheduleLagAndJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 0, &testHandler{})
	m := NewMetrics(MetricsOptions{Store: st})
	q.Observe(m)
	sched, err := ParseSchedule("DTSTART:20260105T030000Z\nRRULE:FREQ=DAILY", 2*time.Hour)
	require.NoError(t, err)
	d := &Daemon{Queue: q, Store: st, Schedules: []NamedSchedule{{Name: "nightly", Schedule: sched, Kind: "test", Action: "rebuild", Target: "web"}}}
	due := time.Date(2026, 1, 10, 3, 0, 0, 0, time.UTC)
	require.NoError(t, d.FireSchedules(ctx, due.Add(-time.Hour)))
	require.NoError(t, d.FireSchedules(ctx, due.Add(3*time.Second)))
	n, sum, ok := gathered(t, m.Registry(), "remint_schedule_lag_seconds", map[string]string{"schedule": "nightly"})
	require.True(t, ok)
	require.Equal(t, 1.0, n)
	require.Equal(t, 3.0, sum)

	_, err = q.Insert(ctx, JobRequest{Kind: "test", Target: "db"}, nil)
	require.NoError(t, err)
	v, _, ok := gathered(t, m.Registry(), "remint_jobs", map[string]string{"kind": "test", "status": StatusQueued})
	require.True(t, ok)
	require.Equal(t, 2.0, v)
	list, err := q.List(ctx, ListOptions{})
	require.NoError(t, err)
	_, err = q.Cancel(ctx, list[0].ID)
	require.NoError(t, err)
	v, _, _ = gathered(t, m.Registry(), "remint_jobs", map[string]string{"kind": "test", "status": StatusQueued})
	require.Equal(t, 1.0, v)
	v, _, _ = gathered(t, m.Registry(), "remint_jobs", map[string]string{"kind": "test", "status": StatusCancelled})
	require.Equal(t, 1.0, v)
}

// A worked job is observed when it ends, with its status and duration.
func TestMetricsJobEndObserved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 1, &testHandler{})
	m := NewMetrics(MetricsOptions{})
	q.Observe(m)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	ok, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "a"}, nil)
	require.NoError(t, err)
	bad, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "b", Options: []byte(`{"fail":"boom"}`)}, nil)
	require.NoError(t, err)
	waitStatus(t, q, ok.ID, StatusSucceeded)
	waitStatus(t, q, bad.ID, StatusFailed)
	require.Eventually(t, func() bool {
		n, _, _ := gathered(t, m.Registry(), "remint_job_duration_seconds", map[string]string{"kind": "test", "status": StatusFailed})
		return n == 1
	}, time.Minute, 10*time.Millisecond)
	n, _, _ := gathered(t, m.Registry(), "remint_job_duration_seconds", map[string]string{"kind": "test", "status": StatusSucceeded})
	require.Equal(t, 1.0, n)
}

// Image age is read from the catalog at scrape time, at most once per TTL; a failed read
// keeps the last good answer.
func TestMetricsImageAgeCached(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	reads := 0
	var fail error
	m := NewMetrics(MetricsOptions{Now: func() time.Time { return now }, ImagesTTL: time.Minute,
		Images: func(context.Context) (map[string]time.Time, error) {
			reads++
			if fail != nil {
				return nil, fail
			}
			return map[string]time.Time{"debian-12": now.Add(-36 * time.Hour)}, nil
		}})
	v, _, ok := gathered(t, m.Registry(), "remint_image_age_days", map[string]string{"family": "debian-12"})
	require.True(t, ok)
	require.Equal(t, 1.5, v)
	now = now.Add(30 * time.Second)
	v, _, _ = gathered(t, m.Registry(), "remint_image_age_days", map[string]string{"family": "debian-12"})
	require.Equal(t, 1, reads, "cached within the TTL")
	require.InDelta(t, 1.5+30.0/86400, v, 1e-9, "the age still grows")
	now = now.Add(time.Minute)
	fail = errors.New("cloud down")
	_, _, ok = gathered(t, m.Registry(), "remint_image_age_days", map[string]string{"family": "debian-12"})
	require.Equal(t, 2, reads)
	require.True(t, ok, "the last good answer stays")
}
