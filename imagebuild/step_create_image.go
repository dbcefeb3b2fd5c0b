package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
)

// stepCreateImage snapshots the stopped builder into a Glance image tagged with the build.
// Cleanup deletes the image unless it was published, or it is a candidate that failed
// verification and --keep-failed asked to keep it. An image that reached the catalog as
// anything but a candidate is never deleted here.
type stepCreateImage struct {
	id string
}

func (*stepCreateImage) Name() string { return "snapshot" }

func (s *stepCreateImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	srv, _ := server(state, roleBuilder)
	name := b.opts.Family.Name + "-build-" + b.id
	id, err := b.cloud.CreateServerImage(ctx, srv.ID, name, map[string]string{MetaBuild: b.id, MetaFamily: b.opts.Family.Name})
	if err != nil {
		return halt(state, fmt.Errorf("snapshot builder %s: %w", srv.ID, err))
	}
	s.id = id
	state.Put(keyImageID, id)
	b.log.Info("snapshot requested", "image", id, "name", name)
	return multistep.ActionContinue
}

func (s *stepCreateImage) Cleanup(state multistep.StateBag) {
	if s.id == "" {
		return
	}
	b := buildOf(state)
	if b.publish {
		return
	}
	ctx, cancel := b.cleanupCtx()
	defer cancel()
	img, err := b.cloud.GetImage(ctx, s.id)
	if err != nil {
		b.note("could not read image %s to clean it up: %v (the next build removes it)", s.id, err)
		return
	}
	st := catalog.State(img.Properties[catalog.PropState])
	if st != "" && st != catalog.Candidate {
		return // in the catalog for good (e.g. promoted, then a later call failed)
	}
	if b.opts.KeepFailed && img.Properties[catalog.PropVerification] == catalog.VerificationFailed {
		b.kept(fmt.Sprintf("failed candidate %s %s (image %s)", b.opts.Family.Name, img.Properties[catalog.PropVersion], s.id))
		return
	}
	if err := b.cloud.DeleteImage(ctx, s.id); err != nil {
		b.note("could not delete image %s: %v (the next build removes it)", s.id, err)
		return
	}
	b.log.Info("image deleted", "image", s.id)
}
