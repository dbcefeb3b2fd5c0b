package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// recover reconciles a resumed rollout with the cloud before its steps continue. The
// store says where each step was; the cloud's remint_rollout tags say which servers
// the rollout created. A step that was "creating" may have created its server before
// the crash without recording it: that server is adopted. Every other tagged server that
// no step records is an orphan (a duplicate create) and is deleted.
func (e *Executor) recover(ctx context.Context, r *run, steps []store.Step) error {
	resumed := false
	for _, st := range steps {
		if st.State != StatePending {
			resumed = true
		}
	}
	if !resumed {
		return nil
	}
	e.emit(ctx, Event{Slot: -1, Step: "resume", Message: fmt.Sprintf("resuming rollout %s to %s", r.rollout.ID, r.rollout.ImageVersion)})
	tagged, err := e.tagged(ctx, r.rollout.ID)
	if err != nil {
		return err
	}
	bySlot := map[string][]openstack.Server{}
	for _, s := range tagged {
		bySlot[s.Metadata[MetaSlot]] = append(bySlot[s.Metadata[MetaSlot]], s)
	}
	for i := range steps {
		st := &steps[i]
		if st.State != StateCreating || st.NewServerID != "" {
			continue
		}
		cands := bySlot[fmt.Sprint(st.Slot)]
		if len(cands) == 0 {
			continue // not created yet: creating will create it
		}
		best := cands[0]
		for _, c := range cands {
			if c.Status == "ACTIVE" && best.Status != "ACTIVE" {
				best = c
			}
		}
		st.NewServerID = best.ID
		if err := e.enter(ctx, st, StateBooting, best.ID, "adopted the replacement created before the interruption"); err != nil {
			return err
		}
	}
	return e.sweepOrphans(ctx, r, steps, tagged)
}

// sweepOrphans deletes servers tagged with the rollout that no step records. tagged is
// the listing to use, nil to list now.
func (e *Executor) sweepOrphans(ctx context.Context, r *run, steps []store.Step, tagged []openstack.Server) error {
	if tagged == nil {
		var err error
		if tagged, err = e.tagged(ctx, r.rollout.ID); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	for _, st := range steps {
		if st.NewServerID != "" {
			known[st.NewServerID] = true
		}
	}
	for _, s := range tagged {
		if known[s.ID] || s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, s.ID) }); err != nil {
			return fmt.Errorf("delete orphaned server %s (%s) of rollout %s: %w", s.Name, s.ID, r.rollout.ID, err)
		}
		e.emit(ctx, Event{Slot: -1, Server: s.ID, Step: "orphan", Message: fmt.Sprintf("deleted orphaned server %s (created but never recorded)", s.Name)})
	}
	return nil
}

// Unfinished returns the id of the group's running rollout, or "" when there is none.
func (e *Executor) Unfinished(ctx context.Context) (string, error) {
	r, err := e.store.UnfinishedRollout(ctx, e.spec.Group)
	if err != nil {
		if isNotFound(err) {
			return "", nil
		}
		return "", err
	}
	return r.ID, nil
}
