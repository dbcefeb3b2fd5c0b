package failover

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/prometheus/promtest"
	"github.com/remint-dev/remint/internal/store"
)

// alarmHarness deploys spec on v1 and points its alarm gate at a Prometheus-compatible
// endpoint answering value; on, when it matches an event, turns the alarm on (value 5,
// max 1) from that event on.
func alarmHarness(t *testing.T, spec Spec, value float64, on func(Event) bool) (*harness, *Executor, *promtest.Server) {
	t.Helper()
	prom := promtest.Start(t, value)
	h := newHarness(t, 41, spec)
	h.deploy()
	h.spec.Alarm = &Alarm{URL: prom.URL, Query: `sum(rate(http_requests_total{code=~"5.."}[1m]))`, Max: 1}
	ex := h.executor(nil)
	events := ex.Events
	ex.Events = func(ev Event) {
		events(ev)
		if on != nil && on(ev) {
			prom.Set(5)
		}
	}
	return h, ex, prom
}

func TestAlarmBeforeTheRolloutStopsIt(t *testing.T) {
	t.Parallel()
	h, ex, prom := alarmHarness(t, fakeSpec(3, StrategyRolling, 1, 0), 5, nil)
	res, err := h.rollout(context.Background(), ex, v2, false)
	require.ErrorContains(t, err, "alarm gate before slot web-0: ")
	require.ErrorContains(t, err, "= 5 > max 1")
	require.Equal(t, store.RolloutFailed, res.Status)
	h.assertConverged(v1) // nothing was touched
	require.NotEmpty(t, prom.Queries())
}

func TestAlarmAfterAMoveMovesTheAddressBack(t *testing.T) {
	t.Parallel()
	h, ex, _ := alarmHarness(t, fakeSpec(3, StrategyRolling, 1, 0), 0, func(ev Event) bool {
		return ev.Slot == 1 && ev.Step == StateGating
	})
	_, err := h.rollout(context.Background(), ex, v2, false)
	require.ErrorContains(t, err, "slot web-1: alarm gate after 203.0.113.11 moved: ")
	h.assertConsistent()
	require.Empty(t, h.violations())
	slots, err := h.store.Slots(context.Background(), "web")
	require.NoError(t, err)
	got := map[int]string{}
	for _, sl := range slots {
		got[sl.Slot] = sl.ImageVersion
	}
	require.Equal(t, map[int]string{0: v2.Version, 1: v1.Version, 2: v1.Version}, got, "slot 0 done before the alarm; slot 1 back; slot 2 never started")
}

func TestAlarmDuringTheBakeRollsBackEveryWave(t *testing.T) {
	t.Parallel()
	spec := fakeSpec(3, StrategyRolling, 1, 0)
	spec.Bake, spec.RollbackAll = 20*time.Millisecond, true
	h, ex, _ := alarmHarness(t, spec, 0, func(ev Event) bool {
		return ev.Slot < 0 && ev.Step == StateBaking && strings.HasPrefix(ev.Message, "wave 2: baking")
	})
	_, err := h.rollout(context.Background(), ex, v2, false)
	require.ErrorContains(t, err, "alarm gate during the bake of wave 2: ")
	h.assertConverged(v1)
	require.Empty(t, h.violations())
}

func TestFailedSlotsNamesSlotsAndRolloutReasons(t *testing.T) {
	t.Parallel()
	require.Equal(t, "slot web-0 failed", failedSlots([]string{"slot web-0: boom"}))
	require.Equal(t, "slots web-0, web-2 failed; alarm gate before wave 3",
		failedSlots([]string{"slot web-0: boom", "slot web-2: bang", "alarm gate before wave 3: errors = 5 > max 1: alarm"}))
	require.Equal(t, "wave 2 failed its bake", failedSlots([]string{"wave 2 failed its bake: slot web-1: 2 consecutive failures: x"}))
}
