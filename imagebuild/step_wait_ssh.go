package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/remote"
)

// stepWaitSSH waits until the server of role printed its SSH host keys on its console and
// accepts the build's key, verifying the host key against the console's
// (remote.Access.WaitForSSH). A key that does not match is never retried: it is a man in
// the middle, or another server.
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
	c, err := access(state).WaitForSSH(ctx, srv, b.opts.SSHTimeout)
	if err != nil {
		return halt(state, fmt.Errorf("SSH to the %s server as %s: %w", s.role, b.opts.Family.SSHUser, err))
	}
	s.c = c
	state.Put(connKey(s.role), c)
	return multistep.ActionContinue
}

func (s *stepWaitSSH) Cleanup(multistep.StateBag) {
	if s.c != nil {
		_ = s.c.Close()
	}
}
