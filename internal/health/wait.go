package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"
)

// Policy says how often to probe and what counts as healthy.
type Policy struct {
	Interval           time.Duration // between probes; default 1s
	Timeout            time.Duration // per probe; default 2s
	HealthyThreshold   int           // consecutive passes that make a host healthy; default 3
	UnhealthyThreshold int           // consecutive failures, after a first pass, that give up; default 3
	GracePeriod        time.Duration // wait before the first probe; default 0
	Deadline           time.Duration // give up when not healthy by then (grace included); default 5m
}

func (p Policy) withDefaults() Policy {
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 2 * time.Second
	}
	if p.HealthyThreshold <= 0 {
		p.HealthyThreshold = 3
	}
	if p.UnhealthyThreshold <= 0 {
		p.UnhealthyThreshold = 3
	}
	if p.Deadline <= 0 {
		p.Deadline = 5 * time.Minute
	}
	return p
}

// Result is the outcome of one probe, reported to Wait's observer.
type Result struct {
	Host        string
	Err         error // nil when the probe passed
	Passes      int   // consecutive passes so far
	Failures    int   // consecutive failures so far
	At          time.Time
	ProbeNumber int
}

// ErrUnhealthy is wrapped by Wait's error when the host did not become healthy.
var ErrUnhealthy = errors.New("not healthy")

// Wait probes host until it has passed HealthyThreshold consecutive probes and returns nil.
// It fails when the deadline passes first, or when the host, having passed at least once,
// then fails UnhealthyThreshold consecutive probes (it came up and went bad: waiting
// longer will not help). Before the first pass, failures are expected (the service is
// still starting) and only the deadline ends the wait. observe, when not nil, is told
// every probe's result. Wait honours ctx.
func Wait(ctx context.Context, p Prober, host string, pol Policy, observe func(Result)) error {
	pol = pol.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, pol.Deadline)
	defer cancel()
	if pol.GracePeriod > 0 {
		t := time.NewTimer(pol.GracePeriod)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s on %s: %w: deadline %s passed during the grace period", p, host, ErrUnhealthy, pol.Deadline)
		}
	}
	var passes, failures, n int
	everPassed := false
	var lastErr error
	err := retry.Do(ctx, retry.NewConstant(pol.Interval), func(ctx context.Context) error {
		n++
		pctx, pcancel := context.WithTimeout(ctx, pol.Timeout)
		perr := p.Probe(pctx, host)
		pcancel()
		if perr != nil {
			passes, failures, lastErr = 0, failures+1, perr
		} else {
			passes, failures, everPassed = passes+1, 0, true
		}
		if observe != nil {
			observe(Result{Host: host, Err: perr, Passes: passes, Failures: failures, At: time.Now(), ProbeNumber: n})
		}
		switch {
		case passes >= pol.HealthyThreshold:
			return nil
		case everPassed && failures >= pol.UnhealthyThreshold:
			return fmt.Errorf("%s on %s: %w: %d consecutive failures after passing: %v", p, host, ErrUnhealthy, failures, perr)
		default:
			return retry.RetryableError(errNotYet)
		}
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnhealthy) {
		return err
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s on %s: %w", p, host, ctx.Err())
	}
	if ctx.Err() != nil {
		if lastErr == nil {
			lastErr = errors.New("no failing probe, but not enough passes")
		}
		return fmt.Errorf("%s on %s: %w within %s (%d passes of %d needed): last failure: %v",
			p, host, ErrUnhealthy, pol.Deadline, passes, pol.HealthyThreshold, lastErr)
	}
	return err
}

var errNotYet = errors.New("not yet healthy")
