package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepStopServer powers the builder off so its disk is quiet when snapshotted.
type stepStopServer struct {
	role string
}

func (s *stepStopServer) Name() string { return "stop " + s.role }

func (s *stepStopServer) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	srv, _ := server(state, s.role)
	if err := b.cloud.StopServer(ctx, srv.ID); err != nil {
		return halt(state, fmt.Errorf("stop %s server %s: %w", s.role, srv.ID, err))
	}
	if _, err := b.cloud.WaitServerStatus(ctx, srv.ID, "SHUTOFF"); err != nil {
		return halt(state, fmt.Errorf("stop %s server %s: %w", s.role, srv.ID, err))
	}
	return multistep.ActionContinue
}

func (*stepStopServer) Cleanup(multistep.StateBag) {}
