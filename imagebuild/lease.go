package imagebuild

import (
	"context"
	"errors"
	"time"

	"github.com/remint-dev/remint/internal/lease"
)

// Leaser hands out leases: a build (and a verification of a registered image) takes the
// family's (lease.FamilyKey) before it changes anything and works in its context, so a
// lost lease stops it. *lease.Manager implements it.
type Leaser interface {
	Acquire(ctx context.Context, key string) (*lease.Lease, error)
}

// holdFamily takes the family's lease; release gives it up.
func (b *build) holdFamily(ctx context.Context) (context.Context, func(), error) {
	if b.opts.Leases == nil {
		return nil, nil, errors.New("image build: no lease manager: a build must hold its family's lease")
	}
	ls, err := b.opts.Leases.Acquire(ctx, lease.FamilyKey(b.opts.Family.Name))
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := ls.Release(rctx); err != nil {
			b.log.Warn("release the family's lease; it expires on its own", "err", err)
		}
	}
	return ls.Context(), release, nil
}
