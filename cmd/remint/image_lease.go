package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/lease"
)

// familyLeases opens the state store and returns the lease manager an image build takes
// the family's lease from (held as command, waiting up to wait); done closes the store.
func familyLeases(ctx context.Context, env *imageEnv, command string, wait time.Duration) (*lease.Manager, func(), error) {
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return nil, nil, usageError{err}
	}
	if wait < 0 {
		return nil, nil, usageErrorf("--wait-lock %s: must not be negative", wait)
	}
	st, err := openStore(ctx, env.m)
	if err != nil {
		return nil, nil, err
	}
	m := &lease.Manager{Store: st, TTL: ttl, Wait: wait, Logger: env.log, Holder: lease.Self(command, started)}
	return m, func() { st.Close() }, nil
}

// leaseHeld adds how to wait to a refusal because another process holds the lease.
func leaseHeld(err error) error {
	var held *lease.HeldError
	if errors.As(err, &held) {
		return fmt.Errorf("%w; wait with --wait-lock 30m or retry later", err)
	}
	return err
}
