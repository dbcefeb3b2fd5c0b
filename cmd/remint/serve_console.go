package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
	"github.com/remint-dev/remint/orchestrator/console"
)

// newConsole wires the web console (served at /) to the daemon's job queue, the
// manifest's groups and families, the image catalog and the schedule book.
// changed is told of every schedule change (the daemon's SchedulesChanged).
func newConsole(env *jobEnv, authn auth.Authenticator, changed func(), log *slog.Logger) (*console.Console, error) {
	var static []console.StaticSchedule
	for _, name := range env.m.ScheduleNames() {
		s := env.m.Schedules[name]
		static = append(static, console.StaticSchedule{Name: name, RRule: s.RRule, Action: s.Action, Target: s.Target, Window: s.Window})
	}
	return console.New(console.Config{
		Auth: authn, Jobs: orchestrator.Local{Queue: env.queue}, Groups: consoleGroups{env}, Images: consoleImages{env},
		Schedules: env.serverUpdateBook(changed), Static: static, Logger: log,
	})
}

// consoleGroups is what `remint group show`, `remint plan` and the rollback use case read.
type consoleGroups struct{ env *jobEnv }

func (g consoleGroups) GroupNames() []string { return g.env.m.GroupNames() }
func (g consoleGroups) Slots(group string) int {
	if gr, ok := g.env.m.Groups[group]; ok {
		return gr.Count
	}
	return 0
}

// groupEnv is the group's environment for reading it; pets (replaceable: false) too.
func (g consoleGroups) groupEnv(ctx context.Context, group string) (*groupEnv, error) {
	e := g.env
	spec, err := groupSpec(e.m, group)
	if err != nil && e.m.Groups[group] != nil && !e.m.Groups[group].IsReplaceable() {
		spec, err = failover.RecordSpec(e.m.Groups[group])
	}
	if err != nil {
		return nil, err
	}
	cl, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	return &groupEnv{m: e.m, spec: spec, cloud: cl, store: e.store, log: e.log}, nil
}

func (g consoleGroups) Status(ctx context.Context, group string) (failover.GroupStatus, error) {
	ge, err := g.groupEnv(ctx, group)
	if err != nil {
		return failover.GroupStatus{Group: group}, err
	}
	ex, err := ge.executor(nil)
	if err != nil {
		return failover.GroupStatus{Group: group}, err
	}
	return ex.Status(ctx)
}

func (g consoleGroups) Plan(ctx context.Context, group string) (string, error) {
	deps, err := g.env.groupDeps(ctx, group, nil)
	if err != nil {
		return "", err
	}
	res, err := failover.Rebuild(ctx, deps, failover.RebuildRequest{DryRun: true})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := printPlan(&b, *res.Plan, "text"); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (g consoleGroups) Pending(ctx context.Context, group string) (map[string]int, error) {
	return inplace.PendingUpdates(ctx, g.env.store, group)
}

// RollbackPlan reads the latest rollout's kept servers, as Executor.Rollback would.
func (g consoleGroups) RollbackPlan(ctx context.Context, group string) (string, error) {
	st := g.env.store
	ro, err := st.LatestRollout(ctx, group)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("group %s: no rollout recorded: %w", group, failover.ErrNothingToRollBack)
	}
	if err != nil {
		return "", err
	}
	if ro.Status == store.RolloutRunning {
		return "", fmt.Errorf("group %s: rollout %s is unfinished; it must finish (or be resumed) before rolling back", group, ro.ID)
	}
	steps, err := st.Steps(ctx, ro.ID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "roll back rollout %s (%s, to image %s):\n", ro.ID, ro.Status, ro.ImageVersion)
	n := 0
	for _, s := range steps {
		if (s.State != failover.StateKept && s.State != failover.StateRollingBack) || failover.Mode(s.Mode) == failover.ModeRemove {
			continue
		}
		n++
		fmt.Fprintf(&b, "  %s-%d: address %s moves back to kept server %s (%s); replacement %s is deleted\n",
			group, s.Slot, orDash(s.Address), short(s.OldServerID), orDash(s.OldImageVersion), orDash(s.NewServerName))
	}
	if n == 0 {
		return "", fmt.Errorf("group %s: rollout %s kept no old server: %w", group, ro.ID, failover.ErrNothingToRollBack)
	}
	return b.String(), nil
}

// consoleImages is what `remint image list`, `image diff` and `image revoke` do.
type consoleImages struct{ env *jobEnv }

func (i consoleImages) FamilyNames() []string { return i.env.m.FamilyNames() }

func (i consoleImages) Versions(ctx context.Context, family string) ([]console.Image, error) {
	cl, err := i.env.connect(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := catalog.New(cl).List(ctx, family)
	if err != nil {
		return nil, err
	}
	out := make([]console.Image, 0, len(entries))
	for n, e := range entries {
		p := e.Image.Properties
		v := console.Image{Version: e.Version.String(), State: string(e.State), ImageID: e.Image.ID, Name: e.Image.Name, Built: e.Image.Created,
			Verification: p[catalog.PropVerification], VerificationReason: p[catalog.PropVerificationReason]}
		if t, err := time.Parse(time.RFC3339, p[catalog.PropBuiltAt]); err == nil {
			v.Built = t
		}
		if n+1 < len(entries) {
			prev := entries[n+1]
			v.Previous = prev.Version.String()
			v.Changes, v.NoDiff = packageDiff(prev, e)
		}
		out = append(out, v)
	}
	return out, nil
}

// packageDiff is image diff's comparison, or why there is none.
func packageDiff(from, to catalog.Entry) ([]debian.Change, string) {
	lists := make([][]debian.Package, 2)
	for n, e := range []catalog.Entry{from, to} {
		l, err := catalog.Packages(e)
		if errors.Is(err, catalog.ErrNoPackageList) {
			return nil, fmt.Sprintf("no package list recorded for %s (registered, not built by remint image build)", e.Version)
		}
		if err != nil {
			return nil, fmt.Sprintf("package list of %s: %v", e.Version, err)
		}
		lists[n] = l
	}
	return debian.Diff(lists[0], lists[1]), ""
}

func (i consoleImages) Revoke(ctx context.Context, family, version, reason string) error {
	if _, err := catalog.ParseVersion(version); err != nil {
		return orchestrator.BadRequestError{Err: fmt.Errorf("version %q: %w", version, err)}
	}
	cl, err := i.env.connect(ctx)
	if err != nil {
		return err
	}
	_, err = catalog.New(cl).Revoke(ctx, family, version, reason, time.Now())
	if errors.Is(err, catalog.ErrUnknownVersion) {
		return orchestrator.BadRequestError{Err: err}
	}
	return err
}
