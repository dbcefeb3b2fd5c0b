package inplace

import (
	"context"
	"errors"

	"github.com/remint-dev/remint/internal/store"
)

// RunReader reads recorded in-place runs; *store.Store implements it.
type RunReader interface {
	LatestInplaceRun(ctx context.Context, group string) (store.InplaceRun, error)
	InplaceServers(ctx context.Context, runID string) ([]store.InplaceServer, error)
}

// PendingUpdates returns, per server id, how many updates the group's latest in-place
// run left pending on it (updates that are not security updates, and security updates
// that failed). Servers the run did not get to a security phase on are absent.
func PendingUpdates(ctx context.Context, r RunReader, group string) (map[string]int, error) {
	out := map[string]int{}
	run, err := r.LatestInplaceRun(ctx, group)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := r.InplaceServers(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		res := DecodeServerResult(row)
		if res.Security != nil {
			out[row.ServerID] = len(res.Security.LeftAlone) + len(res.Security.Failed)
		}
	}
	return out, nil
}
