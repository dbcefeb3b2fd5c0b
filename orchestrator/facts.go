package orchestrator

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/openstack"
)

// QuotaReader reads the project's compute limits; *openstack.Client satisfies it.
type QuotaReader interface {
	ComputeLimits(ctx context.Context) (openstack.Limits, error)
}

// FlavorReader reads a flavor by id or name; *openstack.Client satisfies it.
type FlavorReader interface {
	GetFlavor(ctx context.Context, ref string) (openstack.Flavor, error)
}

// ReadQuota reads the compute quota and usage (Nova limits) for Facts.Quota.
func ReadQuota(ctx context.Context, c QuotaReader) (*Quota, error) {
	l, err := c.ComputeLimits(ctx)
	if err != nil {
		return nil, fmt.Errorf("read compute quota: %w", err)
	}
	return &Quota{
		MaxInstances: l.MaxInstances, UsedInstances: l.UsedInstances,
		MaxCores: l.MaxCores, UsedCores: l.UsedCores,
		MaxRAM: l.MaxRAM, UsedRAM: l.UsedRAM,
	}, nil
}

// ReadSurge sizes a surge of servers of flavor (id or name) for Facts.Surge.
func ReadSurge(ctx context.Context, c FlavorReader, flavor string, servers int) (Surge, error) {
	if servers <= 0 {
		return Surge{}, nil
	}
	f, err := c.GetFlavor(ctx, flavor)
	if err != nil {
		return Surge{}, fmt.Errorf("read flavor %s to size the surge: %w", flavor, err)
	}
	return Surge{Servers: servers, VCPUs: f.VCPUs, RAM: f.RAM}, nil
}

// SurgeServers is how many servers a rebuild following plan has at once beyond the ones
// it retires: every slot created from nothing (first deploy) plus the plan's surge, at
// most one per replacement that creates before it retires (all of them for blue/green).
func SurgeServers(p failover.Plan) int {
	creates, surged := 0, 0
	for _, s := range p.Steps {
		switch {
		case s.Action == failover.ActionCreate:
			creates++
		case s.Action == failover.ActionReplace && s.Mode == failover.ModeSurge:
			surged++
		}
	}
	return creates + min(p.MaxSurge, surged)
}
