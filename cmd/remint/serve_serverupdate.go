package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
	"github.com/remint-dev/remint/orchestrator/serverupdate"
)

// withServerUpdate serves STACKIT's Server Update API (/v1/projects/…,
// /v1/service-instances/…) beside next; changed is told of every schedule change.
func (e *jobEnv) withServerUpdate(next http.Handler, changed func(), log *slog.Logger) http.Handler {
	su := serverupdate.New(serverupdate.Config{
		Jobs:      orchestrator.Local{Queue: e.queue},
		Schedules: e.serverUpdateBook(changed),
		Services:  e.store,
		Servers:   e.serverSlot,
		ProjectID: e.projectID,
		Logger:    log,
	})
	mux := http.NewServeMux()
	mux.Handle("/v1/projects/", su)
	mux.Handle("/v1/service-instances/", su)
	mux.Handle("/", next)
	return mux
}

// serverUpdateBook is the schedule book, able to check schedules on one slot; changed
// (the daemon's SchedulesChanged) is told of each change.
func (e *jobEnv) serverUpdateBook(changed func()) *orchestrator.ScheduleBook {
	return &orchestrator.ScheduleBook{Store: e.store, Static: e.m.ScheduleNames(), Targets: serverUpdateTargets{e}, Changed: changed,
		Slots: func(group string) int {
			if g, ok := e.m.Groups[group]; ok {
				return g.Count
			}
			return 0
		}}
}

// serverSlot finds the group and slot of server id in the failover state: the slot it
// is in, or the one a rollout replaced it in; only groups of the manifest, slots within
// their count.
func (e *jobEnv) serverSlot(ctx context.Context, id string) (string, int, error) {
	group, slot, err := e.store.ServerSlot(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, serverupdate.ErrServerNotFound
	}
	if err != nil {
		return "", 0, err
	}
	if g, ok := e.m.Groups[group]; !ok || slot >= g.Count {
		return "", 0, serverupdate.ErrServerNotFound
	}
	return group, slot, nil
}

// projectID is the Keystone project of the manifest's cloud (connecting on first use).
func (e *jobEnv) projectID(ctx context.Context) (string, error) {
	cl, err := e.connect(ctx)
	if err != nil {
		return "", err
	}
	return cl.ProjectID()
}

// serverUpdateTargets are the manifest's families and groups for the schedule book.
type serverUpdateTargets struct{ e *jobEnv }

func (t serverUpdateTargets) FamilyNames() []string { return t.e.m.FamilyNames() }
func (t serverUpdateTargets) GroupNames() []string  { return t.e.m.GroupNames() }
func (t serverUpdateTargets) Replaceable(group string) bool {
	g, ok := t.e.m.Groups[group]
	return ok && g.IsReplaceable()
}
