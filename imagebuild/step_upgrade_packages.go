package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepUpgradePackages refreshes the package lists, upgrades everything (full upgrade,
// unless the family turns it off), installs the family's packages and pins Docker's
// engine to the family's version. Package names and versions were validated by the
// manifest loader; they are passed as separate arguments, never through a shell.
type stepUpgradePackages struct{}

func (*stepUpgradePackages) Name() string { return "upgrade packages" }

func (s *stepUpgradePackages) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	c := conn(state, roleBuilder)
	p := b.opts.Family.Provision
	steps := [][]string{aptGet("-o", "Acquire::Retries=3", "update")}
	if b.opts.Family.FullUpgrade() {
		steps = append(steps, aptGet("full-upgrade"))
	}
	if len(p.Packages) > 0 {
		steps = append(steps, aptGet(append([]string{"install"}, p.Packages...)...))
	}
	if p.Docker != "" {
		steps = append(steps, aptGet("install", "docker.io="+p.Docker), sudo("apt-mark", "hold", "docker.io"))
	}
	for _, argv := range steps {
		if _, err := b.run(ctx, c, true, argv...); err != nil {
			return halt(state, fmt.Errorf("on the builder: %w", err))
		}
	}
	return multistep.ActionContinue
}

func (*stepUpgradePackages) Cleanup(multistep.StateBag) {}
