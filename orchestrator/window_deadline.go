package orchestrator

import (
	"context"
	"time"
)

type windowKey struct{}

// WithWindowEnd marks ctx with the end of the maintenance window the work runs in: the
// use cases' dependency builders (failover.Options.Deadline, inplace.Deps.Deadline) read
// it with WindowEnd, so no new disruptive step starts after it.
func WithWindowEnd(ctx context.Context, end time.Time) context.Context {
	return context.WithValue(ctx, windowKey{}, end)
}

// WindowEnd is the end of ctx's maintenance window; zero when it has none.
func WindowEnd(ctx context.Context) time.Time {
	t, _ := ctx.Value(windowKey{}).(time.Time)
	return t
}
