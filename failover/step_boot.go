package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// boot is StateBooting: wait until the replacement is ACTIVE and learn its fixed IP.
func (e *Executor) boot(ctx context.Context, r *run, st *store.Step) error {
	// Servers of one rollout boot alike: once one has been seen ACTIVE, wait most of the
	// fastest boot seen before polling, instead of polling all along (a 60s boot polled
	// from 200ms doubling to 2s costs ~30 calls; this costs two or three).
	createdAt, known := r.createdAt(st.NewServerID)
	if fastest := r.fastestBoot(); known && fastest > 0 {
		if err := e.wait(ctx, createdAt.Add(fastest*9/10).Sub(e.now())); err != nil {
			return err
		}
	}
	var srv openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		srv, err = e.cloud.WaitServerActive(ctx, st.NewServerID)
		return err
	})
	if err != nil {
		return fmt.Errorf("boot replacement %s: %w", st.NewServerName, err) // the adapter says what it waited for
	}
	r.setIP(srv.ID, srv.AccessIP)
	if known {
		r.booted(e.now().Sub(createdAt))
	}
	return e.enter(ctx, st, StateChecking, srv.ID, fmt.Sprintf("ACTIVE at %s; health checks", orNone(srv.AccessIP)))
}
