package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepWaitImage waits for the snapshot to become active in Glance (killed is a failure).
type stepWaitImage struct{}

func (*stepWaitImage) Name() string { return "wait for image" }

func (s *stepWaitImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	if _, err := b.cloud.WaitImageActive(ctx, imageID(state)); err != nil {
		return halt(state, fmt.Errorf("snapshot image %s: %w", imageID(state), err))
	}
	return multistep.ActionContinue
}

func (*stepWaitImage) Cleanup(multistep.StateBag) {}
