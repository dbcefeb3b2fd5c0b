package orchestrator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/store"
)

// Deploy decides every target before it runs any, then runs each decision and reports
// per target; a failed target fails the deploy without stopping the others; a refused
// request (forced rebuild of a pet) runs nothing.
func TestDeployRunsEachDecision(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	facts := map[string]Facts{
		"web":   {Target: "web", Replaceable: true, Servers: 2, Image: "debian-12 2026.11.2", Family: "debian-12", Addresses: 2, Surge: Surge{Servers: 1, VCPUs: 1, RAM: 512}},
		"db":    {Target: "db", Servers: 1, Image: "debian-12 2026.11.2", Family: "debian-12"},
		"cache": {Target: "cache", Servers: 1, Family: "debian-12"},
	}
	var ran []string
	deps := DeployDeps{
		Now:   func() time.Time { return now },
		Facts: func(ctx context.Context, g string) (Facts, error) { return facts[g], nil },
		Rebuild: func(ctx context.Context, g string) (failover.RebuildResult, error) {
			ran = append(ran, "rebuild "+g)
			return failover.RebuildResult{Rollout: &failover.Result{Rollout: "r-1", Slots: []failover.SlotResult{{State: failover.StateKept, OldServerID: "old-0"}, {State: failover.StateKept, OldServerID: "old-1"}, {State: failover.StateDone}}}}, nil
		},
		InPlace: func(ctx context.Context, g string, o InPlaceOptions) (inplace.Summary, error) {
			ran = append(ran, "inplace "+g+" reboot "+o.RebootPolicy())
			if g == "cache" {
				return inplace.Summary{Run: "ip-2", Status: store.InplaceFailed, Failed: 1, Servers: []inplace.ServerResult{server("cache-0", inplace.StatusFailed, inplace.PhaseSecurity, 0, 2, 0)}},
					errors.New("in-place run failed: 1 of 1 servers failed")
			}
			return inplace.Summary{Run: "ip-1", Status: store.InplaceSucceeded, Succeeded: 1, Servers: []inplace.ServerResult{server("db-0", inplace.StatusSucceeded, inplace.PhaseDone, 4, 0, 3*time.Second)}}, nil
		},
	}
	opts := Options{ApplySecurityUpgrades: true, RebootIfRequired: true}

	_, err := Deploy(context.Background(), deps, DeployRequest{Targets: []string{"web", "db"}, Force: ForceRebuild, Options: opts})
	var refused *DecideError
	require.ErrorAs(t, err, &refused)
	require.Empty(t, ran, "a refused request runs nothing")

	dry, err := Deploy(context.Background(), deps, DeployRequest{Targets: []string{"web", "db"}, Options: opts, DryRun: true})
	require.NoError(t, err)
	require.Empty(t, ran, "a dry run runs nothing")
	require.Equal(t, ResultPlanned, dry.Status)

	rep, err := Deploy(context.Background(), deps, DeployRequest{Targets: []string{"web", "db", "cache"}, Options: opts})
	require.ErrorIs(t, err, ErrDeployFailed)
	require.ErrorContains(t, err, "1 of 3 targets failed")
	require.Equal(t, []string{"rebuild web", "inplace db reboot if-required", "inplace cache reboot if-required"}, ran)
	require.Equal(t, ResultFailed, rep.Status)
	require.Equal(t, TargetReport{Target: "web", Decision: ActionRebuild, Reason: rep.Decisions[0].Reason, Result: ResultSucceeded, Rollouts: []string{"r-1"}, Replaced: 2, Created: 1}, rep.Targets[0])
	require.Equal(t, TargetReport{Target: "db", Decision: ActionInPlace, Reason: "in-place: group db is replaceable: false (a stateful pet)", Result: ResultSucceeded,
		UpdatesInstalled: 4, Reboots: 1, Downtime: 3 * time.Second, InPlaceRun: "ip-1"}, rep.Targets[1])
	require.Equal(t, ResultFailed, rep.Targets[2].Result)
	require.Equal(t, 2, rep.Targets[2].UpdatesFailed)
	require.Equal(t, "in-place run failed: 1 of 1 servers failed", rep.Targets[2].Error)
}
