package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/openstack"
)

// ErrNoConsoleHostKeys is returned (wrapped) when a server's console log shows no SSH host
// keys, even after waiting for them.
var ErrNoConsoleHostKeys = errors.New("the console log shows no SSH host keys")

// ConsoleHostKeys returns the fingerprints of the host keys srv printed to its console at
// first boot. Right after boot the console may not show them yet: it is read again until
// they appear, for up to wait. Keys found are remembered per server id for the life of a.
func (a *Access) ConsoleHostKeys(ctx context.Context, srv openstack.Server, wait time.Duration) (Fingerprints, error) {
	a.mu.Lock()
	fps, ok := a.keys[srv.ID]
	a.mu.Unlock()
	if ok {
		return fps, nil
	}
	if a.Cloud == nil {
		return nil, fmt.Errorf("host keys of server %s (%s): no cloud to read its console log from", srv.Name, srv.ID)
	}
	var last error
	attempts := 0
	backoff := retry.WithMaxDuration(wait, retry.WithCappedDuration(5*time.Second, retry.NewExponential(250*time.Millisecond)))
	err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		attempts++
		console, err := a.Cloud.ConsoleLog(ctx, srv.ID, 0)
		switch {
		case openstack.IsNotFound(err):
			return fmt.Errorf("read the console log of server %s (%s) for its host keys: %w", srv.Name, srv.ID, err)
		case err != nil:
			last = fmt.Errorf("read the console log of server %s (%s) for its host keys: %w", srv.Name, srv.ID, err)
			return retry.RetryableError(last)
		}
		if fps, err = HostKeysFromConsole(console); err != nil {
			last = fmt.Errorf("server %s (%s): %w", srv.Name, srv.ID, err)
			if attempts == 1 {
				a.log().Debug("no SSH host keys on the console yet; waiting for them", "server", srv.ID, "for", wait)
			}
			return retry.RetryableError(last)
		}
		return nil
	})
	switch {
	case err == nil:
	case last != nil && errors.Is(err, last) && attempts == 1:
		return nil, last
	case last != nil && errors.Is(err, last): // waited in vain
		return nil, fmt.Errorf("%w (read the console %d times in %s)", last, attempts, wait)
	case last != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("%w (gave up: %w)", last, err)
	default:
		return nil, err
	}
	a.mu.Lock()
	if a.keys == nil {
		a.keys = map[string]Fingerprints{}
	}
	a.keys[srv.ID] = fps
	a.mu.Unlock()
	return fps, nil
}
