package failover

import "context"

// RetireKept is the keep-old use case the daemon runs on a timer: with the group's lease
// held, it deletes the old servers whose keep-old (rollback) time is over, so they go
// when the window ends rather than at the next rebuild. It returns how many it deleted.
func RetireKept(ctx context.Context, d Deps) (int, error) {
	ex, _, err := d.executor(d.Spec)
	if err != nil {
		return 0, err
	}
	l, err := d.acquire(ctx, d.Spec.Group)
	if err != nil {
		return 0, err
	}
	defer l.Release(ctx)
	return ex.RetireExpired(l.Context(), ex.now())
}
