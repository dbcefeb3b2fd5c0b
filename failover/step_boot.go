package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// boot is StateBooting: wait until the replacement is ACTIVE and learn its fixed IP
// (and, with the batched poll, its port).
func (e *Executor) boot(ctx context.Context, r *run, st *store.Step) error {
	createdAt, known := r.createdAt(st.NewServerID)
	var srv openstack.Server
	if r.watch != nil {
		if !known {
			createdAt = e.now() // resumed here: the poll starts now
		}
		var (
			ports *portFuture
			err   error
		)
		srv, ports, err = r.watch.active(ctx, st.NewServerID, createdAt)
		if err != nil {
			return fmt.Errorf("boot replacement %s: %w", st.NewServerName, err)
		}
		r.setPortFuture(srv.ID, ports)
	} else {
		// Per-server polling. Servers of one rollout boot alike: once one has been seen
		// ACTIVE, wait most of the fastest boot seen before polling.
		if fastest := r.fastestBoot(); known && fastest > 0 {
			if err := e.wait(ctx, createdAt.Add(fastest*9/10).Sub(e.now())); err != nil {
				return err
			}
		}
		err := e.do(ctx, func(ctx context.Context) (err error) {
			srv, err = e.cloud.WaitServerActive(ctx, st.NewServerID)
			return err
		})
		if err != nil {
			return fmt.Errorf("boot replacement %s: %w", st.NewServerName, err)
		}
	}
	r.setIP(srv.ID, srv.AccessIP)
	if known {
		r.booted(e.now().Sub(createdAt))
	}
	return e.enter(ctx, st, StateChecking, srv.ID, fmt.Sprintf("ACTIVE at %s; health checks", orNone(srv.AccessIP)))
}
