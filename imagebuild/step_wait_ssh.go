package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/remote"
)

// stepWaitSSH waits until the server of role printed its SSH host keys on its console and
// accepts the build's key, verifying the host key against the console's. A key that does
// not match is never retried: it is a man in the middle, or another server.
type stepWaitSSH struct {
	role string
	c    *remote.Client
}

func (s *stepWaitSSH) Name() string {
	if s.role == roleBuilder {
		return "wait for SSH"
	}
	return "wait for SSH on " + s.role + " server"
}

func (s *stepWaitSSH) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	srv, _ := server(state, s.role)
	user := b.opts.Family.SSHUser
	var last error
	bo := retry.WithMaxDuration(b.opts.SSHTimeout, retry.WithCappedDuration(2*time.Second, retry.NewExponential(200*time.Millisecond)))
	err := retry.Do(ctx, bo, func(ctx context.Context) error {
		console, err := b.cloud.ConsoleLog(ctx, srv.ID, 0)
		if err != nil {
			last = fmt.Errorf("read the console log of %s: %w", srv.Name, err)
			return retry.RetryableError(last)
		}
		fps, err := remote.HostKeysFromConsole(console)
		if err != nil {
			last = fmt.Errorf("server %s: %w", srv.Name, err)
			return retry.RetryableError(last)
		}
		c, err := remote.Dial(ctx, remote.Config{Addr: srv.AccessIP, User: user, Signer: signer(state), HostKey: fps, Timeout: 10 * time.Second, Logger: b.log})
		var mismatch *remote.HostKeyMismatchError
		if errors.As(err, &mismatch) {
			return err
		}
		if err != nil {
			last = err
			return retry.RetryableError(err)
		}
		s.c = c
		return nil
	})
	if err != nil {
		if last != nil && !errors.Is(err, last) {
			err = fmt.Errorf("%w (last: %v)", err, last)
		}
		return halt(state, fmt.Errorf("SSH to %s server %s (%s) as %s: %w", s.role, srv.Name, srv.AccessIP, user, err))
	}
	state.Put(connKey(s.role), s.c)
	return multistep.ActionContinue
}

func (s *stepWaitSSH) Cleanup(multistep.StateBag) {
	if s.c != nil {
		_ = s.c.Close()
	}
}
