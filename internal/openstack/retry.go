package openstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"
)

// RetryPolicy says how calls are retried and how waits poll. Zero fields take the
// defaults.
type RetryPolicy struct {
	// Max is the time budget of one call, retries included. Default 2m; negative
	// disables retrying.
	Max time.Duration
	// Base is the first backoff; it doubles per retry, with 10% jitter. Default 250ms.
	Base time.Duration
	// MaxInterval caps one backoff (Retry-After may ask for more). Default 20s.
	MaxInterval time.Duration
	// PollMin and PollMax bound the polling interval of the Wait* methods, which
	// starts at PollMin and doubles up to PollMax. Defaults 200ms and 2s.
	PollMin, PollMax time.Duration
	// WaitTimeout bounds each Wait* call when ctx has no earlier deadline. Default 30m.
	WaitTimeout time.Duration
}

// DefaultRetryPolicy is what zero fields of a RetryPolicy become.
var DefaultRetryPolicy = RetryPolicy{
	Max:         2 * time.Minute,
	Base:        250 * time.Millisecond,
	MaxInterval: 20 * time.Second,
	PollMin:     200 * time.Millisecond,
	PollMax:     2 * time.Second,
	WaitTimeout: 30 * time.Minute,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.Max == 0 {
		p.Max = d.Max
	}
	if p.Base <= 0 {
		p.Base = d.Base
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = d.MaxInterval
	}
	if p.PollMin <= 0 {
		p.PollMin = d.PollMin
	}
	if p.PollMax <= 0 {
		p.PollMax = d.PollMax
	}
	if p.PollMax < p.PollMin {
		p.PollMax = p.PollMin
	}
	if p.WaitTimeout <= 0 {
		p.WaitTimeout = d.WaitTimeout
	}
	return p
}

// retryClass says which failures a call may be repeated after.
type retryClass int

const (
	// idempotent calls (reads, deletes, updates that set a value) are retried on every
	// retryable failure (IsRetryable).
	idempotent retryClass = iota
	// createOnce calls create something (a server, an image, a floating IP). Sent twice
	// they may create two, so they are retried only where the request surely did not
	// take effect: 429, 503, and failing to connect at all. A 500, 502, 504 or a
	// connection cut after sending is returned to the caller, who can find a duplicate
	// by name or tag (remint tags replacements with the rollout id).
	createOnce
	// never is for requests whose body cannot be sent again (a non-seekable upload).
	never
)

func (rc retryClass) retries(err error) bool {
	switch rc {
	case idempotent:
		return IsRetryable(err)
	case createOnce:
		return notSent(err)
	}
	return false
}

// backoff is the call backoff of p: exponential from Base with 10% jitter, each step
// at most MaxInterval, all within Max. retryAfter returns the Retry-After of the last
// failure; a longer Retry-After replaces the step, and one that would end past the
// budget stops the retries (the cloud said it will not answer before then).
func (p RetryPolicy) backoff(start time.Time, now func() time.Time, retryAfter func() time.Duration) retry.Backoff {
	if p.Max < 0 {
		return retry.WithMaxRetries(0, retry.NewConstant(time.Second))
	}
	inner := retry.WithMaxDuration(p.Max,
		retry.WithCappedDuration(p.MaxInterval,
			retry.WithJitterPercent(10, retry.NewExponential(p.Base))))
	return retry.BackoffFunc(func() (time.Duration, bool) {
		next, stop := inner.Next()
		if stop {
			return 0, true
		}
		if ra := retryAfter(); ra > next {
			if now().Sub(start)+ra > p.Max {
				return 0, true
			}
			next = ra
		}
		return next, false
	})
}

// call runs fn, one cloud call, and retries it per the client's policy and class. The
// error it returns is classified (see classify) and wrapped as "op: …".
func call[T any](ctx context.Context, c *Client, op string, class retryClass, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	var (
		attempts   int
		lastErr    error
		retryAfter time.Duration
	)
	start := c.now()
	b := c.policy.backoff(start, c.now, func() time.Duration { return retryAfter })
	v, err := retry.DoValue(ctx, b, func(ctx context.Context) (T, error) {
		attempts++
		if attempts > 1 {
			c.retries.Add(1)
		}
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		err = classify(err, c.now())
		lastErr = err
		if ctx.Err() != nil || !class.retries(err) {
			return zero, err
		}
		retryAfter = retryAfterOf(err)
		c.log.DebugContext(ctx, "OpenStack call failed, will retry",
			"op", op, "attempt", attempts, "status", statusOf(err), "retry_after", retryAfter, "err", err)
		return zero, retry.RetryableError(err)
	})
	if err == nil {
		return v, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && lastErr != nil && !errors.Is(err, lastErr) {
		return zero, fmt.Errorf("%s: %w (last attempt: %w)", op, ctxErr, lastErr)
	}
	if attempts > 1 {
		return zero, fmt.Errorf("%s: %w (gave up after %d attempts in %s)", op, err, attempts, c.now().Sub(start).Round(time.Millisecond))
	}
	return zero, fmt.Errorf("%s: %w", op, err)
}

// call0 is call for operations with no result.
func call0(ctx context.Context, c *Client, op string, class retryClass, fn func(ctx context.Context) error) error {
	_, err := call(ctx, c, op, class, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}

// pollResult is one look at something being waited for.
type pollResult struct {
	done   bool
	status string // what it is now, for messages
}

// wait polls until poll reports done, poll fails with an error that is not retryable,
// ctx ends, or the policy's WaitTimeout passes. The interval starts at PollMin and
// doubles up to PollMax.
func (c *Client) wait(ctx context.Context, what string, poll func(ctx context.Context) (pollResult, error)) error {
	ctx, cancel := context.WithTimeout(ctx, c.policy.WaitTimeout)
	defer cancel()
	b := retry.WithCappedDuration(c.policy.PollMax, retry.NewExponential(c.policy.PollMin))
	start := c.now()
	var (
		last    pollResult
		lastErr error
	)
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		r, err := poll(ctx)
		if err != nil {
			if ctx.Err() == nil && IsRetryable(err) {
				lastErr = err
				return retry.RetryableError(err)
			}
			return err
		}
		last, lastErr = r, nil
		if r.done {
			return nil
		}
		return retry.RetryableError(errNotYet)
	})
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, ctxErr) || errors.Is(err, errNotYet)) {
		elapsed := c.now().Sub(start).Round(time.Millisecond)
		if lastErr != nil {
			return fmt.Errorf("wait for %s: %w after %s (last error: %w)", what, ctxErr, elapsed, lastErr)
		}
		return fmt.Errorf("wait for %s: still %s after %s: %w", what, orUnknown(last.status), elapsed, ctxErr)
	}
	return fmt.Errorf("wait for %s: %w", what, err)
}

var errNotYet = errors.New("not yet")

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
