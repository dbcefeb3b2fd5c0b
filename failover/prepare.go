package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// with Run (remint rebuild --resume does).
var ErrUnfinished = errors.New("the group has an unfinished rollout")

// Prepare plans a rollout of the group to target and records it (status running, every
// step pending) without touching any server. Addresses to allocate are allocated and
// recorded here, so the plan's steps carry floating IP ids.
func (e *Executor) Prepare(ctx context.Context, target Target, force bool) (Plan, string, error) {
	if r, err := e.store.UnfinishedRollout(ctx, e.spec.Group); err == nil {
		return Plan{}, r.ID, fmt.Errorf("group %s: rollout %s (to %s) is %s: %w", e.spec.Group, r.ID, r.ImageVersion, r.Status, ErrUnfinished)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Plan{}, "", err
	}
	cur, err := e.Current(ctx)
	if err != nil {
		return Plan{}, "", err
	}
	plan, err := MakePlan(PlanInput{Spec: e.spec, Target: target, Slots: cur, Force: force})
	if err != nil {
		return Plan{}, "", err
	}
	id := randomHex(4)
	e.setRollout(id)
	var steps []store.Step
	for _, ps := range plan.Work() {
		st := store.Step{Slot: ps.Slot, Wave: ps.Wave, Mode: string(ps.Mode), State: StatePending,
			OldServerID: ps.OldServerID, OldImageVersion: ps.OldImageVersion, Updated: e.now()}
		// A removed slot (beyond the count) has no address in the spec: its server's
		// floating IPs are found by its port when it is removed.
		if a, ok := e.spec.addressOf(ps.Slot); ok {
			fip, err := e.resolveAddress(ctx, ps.Slot, a)
			if err != nil {
				return plan, "", err
			}
			st.AddressID, st.Address = fip.ID, fip.Address
		}
		steps = append(steps, st)
	}
	raw, err := json.Marshal(plan)
	if err != nil {
		return plan, "", fmt.Errorf("encode plan of group %s: %w", e.spec.Group, err)
	}
	now := e.now()
	r := store.Rollout{ID: id, Group: e.spec.Group, ImageID: target.ImageID, ImageVersion: target.Version,
		Strategy: plan.Strategy, Status: store.RolloutRunning, Plan: raw, Created: now, Updated: now}
	if err := e.store.CreateRollout(ctx, r, steps); err != nil {
		return plan, "", err
	}
	e.emit(ctx, Event{Slot: -1, Step: "planned", Message: fmt.Sprintf("rollout %s: %d slots to %s in %d waves (%s)", id, len(steps), target.Version, plan.Waves, plan.Strategy)})
	return plan, id, nil
}

// Plan computes the plan Prepare would record, touching nothing: the group's current
// servers from the store and the cloud, and addresses already allocated shown by address.
func (e *Executor) Plan(ctx context.Context, target Target, force bool) (Plan, error) {
	cur, err := e.Current(ctx)
	if err != nil {
		return Plan{}, err
	}
	p, err := MakePlan(PlanInput{Spec: e.spec, Target: target, Slots: cur, Force: force})
	if err != nil {
		return p, err
	}
	recs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return p, err
	}
	for _, r := range recs {
		for i := range p.Steps {
			if p.Steps[i].Slot == r.Slot && r.Address != "" {
				p.Steps[i].Address = r.Address
			}
		}
	}
	return p, nil
}

// Current returns what each slot of the group runs now: the store's slots, checked
// against the cloud (a recorded server that no longer exists leaves its slot empty).
// Slots at or beyond the count are included: the plan removes them.
func (e *Executor) Current(ctx context.Context) ([]Current, error) {
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	if len(slots) == 0 {
		return nil, nil
	}
	var servers []openstack.Server
	err = e.do(ctx, func(ctx context.Context) (err error) {
		servers, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: e.spec.Group + "-"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list servers of group %s: %w", e.spec.Group, err)
	}
	byID := map[string]openstack.Server{}
	for _, s := range servers {
		byID[s.ID] = s
	}
	var out []Current
	for _, sl := range slots {
		s, ok := byID[sl.ServerID]
		if !ok {
			continue
		}
		out = append(out, Current{Slot: sl.Slot, ServerID: sl.ServerID, ServerName: s.Name, ImageID: s.ImageID, ImageVersion: sl.ImageVersion, Status: s.Status})
	}
	return out, nil
}
