package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/debian"
)

// stepConfigureUnattended sets up unattended-upgrades for daily security-only upgrades,
// with exactly the configuration the in-place path writes (internal/debian), so a server
// booted from the image keeps itself patched between image releases.
type stepConfigureUnattended struct{}

func (*stepConfigureUnattended) Name() string { return "configure unattended-upgrades" }

func (s *stepConfigureUnattended) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	c := conn(state, roleBuilder)
	if _, err := b.run(ctx, c, true, aptGet("install", "unattended-upgrades")...); err != nil {
		return halt(state, fmt.Errorf("install unattended-upgrades: %w", err))
	}
	if _, err := debian.ConfigureUnattendedUpgrades(ctx, runner{b: b, c: c}); err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

func (*stepConfigureUnattended) Cleanup(multistep.StateBag) {}
