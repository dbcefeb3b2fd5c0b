package failover

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/store"
)

// bakeWave is the bake (ASG's BakeTime, Spinnaker's wait stage): after wave w's
// addresses moved, its new servers are watched behind their addresses until the bake
// time written on each step has passed, the old servers still there. Each round probes
// every baking slot (through its address when it has one, else on its fixed IP); a slot
// failing the unhealthy threshold of consecutive probes fails the bake, and runWaves
// rolls the wave (or every wave so far) back; failedSlot names the slot that failed. A resumed bake watches for what is left of
// its time. Either way it probes at least the unhealthy threshold's number of rounds, so
// that it can fail at all.
func (e *Executor) bakeWave(ctx context.Context, r *run, w int, wave []*store.Step) (failedSlot int, err error) {
	var baking []*store.Step
	var end time.Time
	for _, st := range wave {
		if st.State == StateBaking {
			baking = append(baking, st)
			if st.RetireAfter.After(end) {
				end = st.RetireAfter
			}
		}
	}
	if len(baking) == 0 {
		return -1, nil
	}
	e.emit(ctx, Event{Slot: -1, Step: StateBaking, Message: fmt.Sprintf("wave %d: baking %d slots until %s", w, len(baking), end.Format(time.RFC3339))})
	interval := e.Policy.Interval
	if interval <= 0 {
		interval = time.Second
	}
	threshold := max(e.Policy.UnhealthyThreshold, 1)
	fails := make([]int, len(baking))
	rounds := 0 // a bake always probes often enough to be able to fail
	lastErr := make([]error, len(baking))
	for {
		var wg sync.WaitGroup
		for i, st := range baking {
			wg.Go(func() { lastErr[i] = e.bakeProbe(ctx, r, st) })
		}
		wg.Wait()
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		if err := e.checkAlarm(ctx, fmt.Sprintf("during the bake of wave %d", w)); err != nil {
			return -1, err
		}
		for i, st := range baking {
			if lastErr[i] == nil {
				fails[i] = 0
				continue
			}
			if fails[i]++; fails[i] >= threshold {
				return st.Slot, fmt.Errorf("wave %d failed its bake: slot %s: %d consecutive failures: %w", w, e.spec.slotName(st.Slot), fails[i], lastErr[i])
			}
		}
		if err := e.crashPoint("baking"); err != nil {
			return -1, err
		}
		rounds++
		left := end.Sub(e.now())
		if left <= 0 && rounds >= threshold {
			e.emit(ctx, Event{Slot: -1, Step: StateBaking, Message: fmt.Sprintf("wave %d baked", w)})
			return -1, nil
		}
		d := min(interval, left)
		if d <= 0 {
			d = interval
		}
		if err := e.wait(ctx, d); err != nil {
			return -1, err
		}
	}
}

// bakeProbe checks one baking slot once: through its address (the gate, which also
// proves the address still reaches the replacement) or, without an address, on the
// replacement's fixed IP. A cloud check (a prober of server ids) checks the server
// through the cloud as well as the gate.
func (e *Executor) bakeProbe(ctx context.Context, r *run, st *store.Step) error {
	timeout := e.Policy.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, ok := e.Prober.(health.ServerProber); ok {
		if st.Address != "" && e.Gate != nil {
			if err := e.Gate.CheckAddress(ctx, st.Address, st.NewServerID); err != nil {
				return err
			}
		}
		return e.Prober.Probe(ctx, st.NewServerID)
	}
	switch {
	case st.Address != "" && e.Gate != nil:
		return e.Gate.CheckAddress(ctx, st.Address, st.NewServerID)
	case st.Address != "" && e.Prober != nil:
		return e.Prober.Probe(ctx, st.Address)
	case e.Prober != nil && r.ip(st.NewServerID) != "":
		return e.Prober.Probe(ctx, r.ip(st.NewServerID))
	}
	return nil
}
