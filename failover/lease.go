package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/lease"
)

// Leaser hands out leases: the group use cases take the group's (lease.GroupKey) before
// they change anything, and work in its context. *lease.Manager implements it.
type Leaser interface {
	Acquire(ctx context.Context, key string) (*lease.Lease, error)
}

func (d Deps) acquire(ctx context.Context, group string) (*lease.Lease, error) {
	if d.Leases == nil {
		return nil, fmt.Errorf("group %s: no lease manager: every change of a group must hold its lease", group)
	}
	return d.Leases.Acquire(ctx, lease.GroupKey(group))
}
