package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/prometheus"
)

// AlarmGate is the rollout's alarm gate (rollout.gate): it fails while the alarm is on.
// prometheus.Gate implements it.
type AlarmGate interface {
	Check(ctx context.Context) error
}

// Alarm is the manifest's alarm gate: a PromQL query whose value must not exceed Max.
type Alarm struct {
	URL   string
	Query string
	Max   float64
}

func (a Alarm) String() string {
	return fmt.Sprintf("%s at %s must stay <= %g", a.Query, a.URL, a.Max)
}

// checkAlarm evaluates the alarm gate, if any, at one point of the rollout (named by
// when, for the error). A query that fails for another reason than the alarm is tried
// three times a second apart before it fails the gate: an unanswered gate proves nothing.
func (e *Executor) checkAlarm(ctx context.Context, when string) error {
	if e.Alarm == nil {
		return nil
	}
	b := retry.WithMaxRetries(2, retry.NewConstant(time.Second))
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		err := e.Alarm.Check(ctx)
		if err != nil && !errors.Is(err, prometheus.ErrAlarm) && ctx.Err() == nil {
			return retry.RetryableError(err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("alarm gate %s: %w", when, err)
	}
	return nil
}
