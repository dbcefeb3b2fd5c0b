package inplace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/remote"
)

// Health is the group's health check, run after a reboot.
type Health struct {
	Prober health.Prober
	Policy health.Policy
}

// rebootDecision is the policy applied to what reboot-required says. Pure.
func rebootDecision(policy string, rr debian.RebootRequired) bool {
	switch policy {
	case RebootAlways:
		return true
	case RebootIfRequired:
		return rr.Required
	}
	return false
}

// bootMarkScript identifies one boot of the server: the kernel's boot id changes on a
// real reboot, PID 1's start time on a container restart (the docker driver).
const bootMarkScript = `echo "$(cat /proc/sys/kernel/random/boot_id) $(cut -d' ' -f22 /proc/1/stat)"`

func bootMark(ctx context.Context, c Conn) (string, error) {
	res, err := c.Run(ctx, []string{"sh", "-c", bootMarkScript})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return strings.TrimSpace(res.Stdout), nil
}

// reboot applies the reboot policy. It reboots through the cloud's API (Nova reboot,
// soft): the cloud knows the server is rebooting, it works when the guest's own reboot
// is wedged, and it is the same call an operator's console makes. Then it waits for SSH
// (the host key verified as always: a server that comes back with another key is refused),
// checks that a new boot happened and reboot-required is gone, and waits for the group's
// health check. Downtime is from the request to the first passing health check.
// It returns the connection to use afterwards (a new one when it rebooted).
func (p *patcher) reboot(ctx context.Context, c Conn, s Server) (*RebootResult, Conn, error) {
	rr, err := debian.ReadRebootRequired(ctx, c)
	if err != nil {
		return nil, c, err
	}
	res := &RebootResult{Policy: p.o.Reboot, Wanted: rr.Required, Packages: rr.Packages}
	if !rebootDecision(p.o.Reboot, rr) || p.o.DryRun {
		return res, c, nil
	}
	before, err := bootMark(ctx, c)
	if err != nil {
		return res, c, err
	}
	c.Close()
	start := p.now()
	if err := p.rebooter.RebootServer(ctx, s.ID, false); err != nil {
		return res, nil, fmt.Errorf("reboot server %s through the cloud: %w", s.Name, err)
	}
	res.Via = "nova"
	var conn Conn
	// A steady short interval: every second of polling slack is downtime reported.
	b := retry.WithMaxDuration(p.o.SSHTimeout, retry.NewConstant(200*time.Millisecond))
	err = retry.Do(ctx, b, func(ctx context.Context) error {
		// Short attempts: while the server is down a connect can hang until ARP gives up.
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		nc, err := p.dialer.Dial(dctx, s)
		if err != nil {
			var mismatch *remote.HostKeyMismatchError
			if errors.As(err, &mismatch) {
				return err // never retried: possibly not our server
			}
			return retry.RetryableError(err)
		}
		mark, err := bootMark(dctx, nc)
		if err != nil || mark == before {
			nc.Close()
			if err == nil {
				err = errors.New("still the boot before the reboot")
			}
			return retry.RetryableError(err)
		}
		conn = nc
		return nil
	})
	if err != nil {
		return res, nil, fmt.Errorf("wait for SSH on %s after the reboot: %w", s.Name, err)
	}
	res.SSHBack = p.now().Sub(start)
	res.Done = true
	var firstPass time.Time
	if p.health.Prober != nil {
		err = health.Wait(ctx, p.health.Prober, s.Addr, p.health.Policy, func(r health.Result) {
			if r.Err == nil && firstPass.IsZero() {
				firstPass = r.At
			}
		})
		if err != nil {
			return res, conn, fmt.Errorf("health check of %s after the reboot: %w", s.Name, err)
		}
	}
	if firstPass.IsZero() {
		firstPass = p.now()
	}
	res.Downtime = firstPass.Sub(start)
	// The cloud must agree the reboot is over (REBOOT → ACTIVE), or the next command sees
	// a server still rebooting.
	if _, err := p.rebooter.WaitServerActive(ctx, s.ID); err != nil {
		return res, conn, fmt.Errorf("server %s after the reboot: %w", s.Name, err)
	}
	after, err := debian.ReadRebootRequired(ctx, conn)
	if err != nil {
		return res, conn, err
	}
	if after.Required {
		return res, conn, fmt.Errorf("/var/run/reboot-required is still there after rebooting %s (packages: %s)", s.Name, strings.Join(after.Packages, ", "))
	}
	return res, conn, nil
}
