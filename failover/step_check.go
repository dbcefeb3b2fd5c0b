package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// check is StateChecking: the replacement must pass the group's health policy on its
// own fixed IP (grace, threshold, deadline) before any address moves to it.
func (e *Executor) check(ctx context.Context, r *run, st *store.Step) error {
	ip := r.ip(st.NewServerID)
	if ip == "" {
		// Resumed here: ask once more where the server is.
		var srv openstack.Server
		err := e.do(ctx, func(ctx context.Context) (err error) {
			srv, err = e.cloud.WaitServerActive(ctx, st.NewServerID)
			return err
		})
		if err != nil {
			return fmt.Errorf("read server %s: %w", st.NewServerName, err)
		}
		ip = srv.AccessIP
		r.setIP(srv.ID, ip)
	}
	healthy := "healthy"
	if e.Prober != nil {
		target := health.Target(e.Prober, st.NewServerID, ip)
		if target == "" {
			return fmt.Errorf("server %s has no fixed IP to health-check", st.NewServerName)
		}
		// The probes' cadence adapts to what this rollout has seen: replacements of one
		// image take about as long from ACTIVE to serving, so once one needed failing
		// probes before its first pass, the next ones start probing at most of the
		// shortest such wait seen (never past half the deadline), instead of failing
		// until then. A replacement that passes its first probe teaches no wait.
		pol := e.Policy
		if d := min(r.upDelay()*9/10, pol.Deadline/2); d > pol.GracePeriod {
			// The learned wait is added to the deadline: it must not eat the probes' time.
			pol.Deadline += d - pol.GracePeriod
			pol.GracePeriod = d
		}
		start := e.now()
		firstPass := time.Duration(-1)
		observe := func(res health.Result) {
			if res.Err == nil && firstPass < 0 {
				firstPass = 0
				if res.ProbeNumber > 1 {
					firstPass = e.now().Sub(start)
				}
			}
			if e.Progress == nil {
				return
			}
			msg := fmt.Sprintf("probe %d: %d of %d passes", res.ProbeNumber, res.Passes, max(e.Policy.HealthyThreshold, 1))
			if res.Err != nil {
				msg = fmt.Sprintf("probe %d failed: %v", res.ProbeNumber, res.Err)
			}
			e.Progress(Event{Time: e.now(), Rollout: e.currentRollout(), Group: e.spec.Group, Slot: st.Slot, Server: st.NewServerID, Step: StateChecking, Message: msg})
		}
		if err := health.Wait(ctx, e.Prober, target, pol, observe); err != nil {
			return fmt.Errorf("health of replacement %s: %w", st.NewServerName, err)
		}
		if firstPass >= 0 {
			r.up(firstPass)
		}
		if n, ok := e.Prober.(health.Noter); ok {
			if note := n.Note(target); note != "" {
				healthy += " (" + note + ")"
			}
		}
	}
	return e.enter(ctx, st, StateHealthy, st.NewServerID, healthy)
}
