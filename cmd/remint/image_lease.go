package main

import (
	"context"
	"time"

	"github.com/remint-dev/remint/internal/lease"
)

// holdFamilyLease takes the image family's lease in the state store for the whole build.
// The returned context ends when the lease is lost; release gives the lease up and closes
// the store. A lease another process holds is refused at once (exit 1), saying who has it.
func holdFamilyLease(ctx context.Context, env *imageEnv, family, command string) (context.Context, func(), error) {
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return nil, nil, usageError{err}
	}
	st, err := openStore(ctx, env.m)
	if err != nil {
		return nil, nil, err
	}
	m := &lease.Manager{Store: st, Holder: lease.Self(command, time.Now()), TTL: ttl, Logger: env.log}
	l, err := m.Acquire(ctx, lease.FamilyKey(family))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := l.Release(rctx); err != nil {
			env.log.Warn("release the image family's lease", "family", family, "err", err)
		}
		st.Close()
	}
	return l.Context(), release, nil
}
