package imagebuild

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
)

// stepRegisterCandidate adds the image to the catalog as a candidate with its build
// record: source image, build time, package list, provisioning digest.
type stepRegisterCandidate struct{}

func (*stepRegisterCandidate) Name() string { return "register candidate" }

func (s *stepRegisterCandidate) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	now := b.opts.Now()
	e, err := b.cat.AddCandidate(ctx, b.opts.Family.Name, imageID(state), catalog.Build{
		ID: b.id, SourceImage: sourceImage(state).ID, BuiltAt: now, Duration: now.Sub(b.res.Started),
		Packages: packages(state), ProvisionDigest: provisionDigest(b.opts.Family), Reason: b.opts.Reason,
	}, now)
	if err != nil {
		return halt(state, err)
	}
	state.Put(keyEntry, e)
	b.mu.Lock()
	b.res.Version, b.res.ImageID = e.Version.String(), e.Image.ID
	b.mu.Unlock()
	b.log.Info("candidate registered", "version", e.Version.String(), "image", e.Image.ID)
	return multistep.ActionContinue
}

func (*stepRegisterCandidate) Cleanup(multistep.StateBag) {}
