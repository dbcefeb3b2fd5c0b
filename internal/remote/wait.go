package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/remint-dev/remint/internal/openstack"
)

// WaitForSSH waits up to timeout for srv to accept an SSH login and returns the connection:
// after a boot or a reboot, sshd, cloud-init's authorized key and the console's host keys
// all take a while to appear. The host key is verified on every attempt; a mismatch is
// final and returned at once (a *HostKeyMismatchError), never retried.
func (a *Access) WaitForSSH(ctx context.Context, srv openstack.Server, timeout time.Duration) (*Client, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if srv.AccessIP == "" {
		return nil, fmt.Errorf("wait for SSH on server %s (%s): it has no fixed address to connect to", srv.Name, srv.ID)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	policy, err := a.serverPolicy(ctx, srv, timeout)
	if err != nil {
		return nil, fmt.Errorf("wait for SSH on server %s (%s): %w", srv.Name, srv.ID, err)
	}
	var last error
	attempts := 0
	backoff := retry.WithMaxDuration(timeout, retry.WithCappedDuration(5*time.Second, retry.NewExponential(250*time.Millisecond)))
	c, err := retry.DoValue(ctx, backoff, func(ctx context.Context) (*Client, error) {
		attempts++
		c, err := a.dial(ctx, srv.AccessIP, policy)
		if err == nil {
			return c, nil
		}
		if isHostKeyError(err) {
			last = err
			return nil, err
		}
		// An attempt cut short by the wait's own deadline only says "i/o timeout";
		// the attempt before it says why the server did not answer.
		// (The deadline can have passed a moment before ctx.Err says so.)
		if dl, _ := ctx.Deadline(); last == nil || (ctx.Err() == nil && time.Now().Before(dl)) {
			last = err
		}
		if attempts == 1 {
			a.log().Debug("waiting for SSH", "server", srv.ID, "addr", srv.AccessIP, "err", err)
		}
		return nil, retry.RetryableError(err)
	})
	if err != nil {
		if isHostKeyError(err) {
			return nil, err
		}
		if last != nil {
			err = last
		}
		return nil, fmt.Errorf("wait for SSH on server %s (%s) at %s: gave up after %d attempts in %s: %w",
			srv.Name, srv.ID, srv.AccessIP, attempts, time.Since(start).Round(time.Second), err)
	}
	a.log().Debug("SSH is up", "server", srv.ID, "addr", srv.AccessIP, "after", time.Since(start).Round(time.Millisecond))
	return c, nil
}

// isHostKeyError reports a host key the policy refused: final, whatever the cause.
func isHostKeyError(err error) bool {
	var mismatch *HostKeyMismatchError
	var revoked *knownhosts.RevokedError
	return errors.As(err, &mismatch) || errors.As(err, &revoked)
}
