package imagebuild

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/openstack"
)

// stepResolveSource finds the family's source image (id or unique name) and the family's
// active version, if any.
type stepResolveSource struct{}

func (*stepResolveSource) Name() string { return "resolve source image" }

func (s *stepResolveSource) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	ref := b.opts.Family.SourceImage
	img, err := b.cloud.GetImage(ctx, ref)
	if err != nil && !openstack.IsNotFound(err) {
		return halt(state, fmt.Errorf("look up source image %s: %w", ref, err))
	}
	if err != nil {
		byName, err := b.cloud.ListImages(ctx, openstack.ListImagesOpts{Name: ref, Status: "active"})
		if err != nil {
			return halt(state, fmt.Errorf("look up source image named %s: %w", ref, err))
		}
		switch len(byName) {
		case 0:
			return halt(state, fmt.Errorf("source image %s of family %s: no active image has that id or name", ref, b.opts.Family.Name))
		case 1:
			img = byName[0]
		default:
			ids := make([]string, len(byName))
			for i, im := range byName {
				ids[i] = im.ID
			}
			slices.Sort(ids)
			return halt(state, fmt.Errorf("source image %s of family %s: %d images have that name (%s); give an id", ref, b.opts.Family.Name, len(byName), strings.Join(ids, ", ")))
		}
	}
	if img.Status != "active" {
		return halt(state, fmt.Errorf("source image %s (%s) is %s, want active", ref, img.ID, img.Status))
	}
	state.Put(keySource, img)
	if e, err := b.cat.Latest(ctx, b.opts.Family.Name); err == nil {
		state.Put(keyActive, e)
	}
	b.log.Info("source image resolved", "image", img.ID, "name", img.Name)
	return multistep.ActionContinue
}

func (*stepResolveSource) Cleanup(multistep.StateBag) {}
