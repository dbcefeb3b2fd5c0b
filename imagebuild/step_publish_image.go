package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/openstack"
)

// stepPublishImage makes the verified candidate the family's active version (the previous
// one becomes deprecated) and enforces retention, never deleting an image a server uses.
type stepPublishImage struct{}

func (*stepPublishImage) Name() string { return "publish" }

func (s *stepPublishImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	e, _ := candidate(state)
	now := b.opts.Now()
	pe, notes, err := b.cat.Promote(ctx, e.Image.ID, now)
	for _, n := range notes {
		b.note("%s", n)
	}
	if pe.State == catalog.Active {
		b.mu.Lock()
		b.publish = true
		b.res.Duration = b.opts.Now().Sub(b.res.Started)
		b.mu.Unlock()
	}
	if err != nil {
		return halt(state, err)
	}
	if prev, ok := active(state); ok && packages(state) != nil {
		if old, err := catalog.Packages(prev); err == nil {
			b.mu.Lock()
			b.res.Changes = debian.Diff(old, packages(state))
			b.mu.Unlock()
		}
	}
	servers, err := b.cloud.ListServers(ctx, openstack.ListServersOpts{})
	if err != nil {
		return halt(state, fmt.Errorf("list servers to find the images in use before retiring: %w", err))
	}
	inUse := map[string]bool{}
	for _, srv := range servers {
		inUse[srv.ImageID] = true
	}
	notes, err = b.cat.Retire(ctx, b.opts.Family.Name, catalog.RetireOptions{
		Keep: b.opts.Family.Keep(), InUse: func(id string) bool { return inUse[id] },
	}, now)
	for _, n := range notes {
		b.note("%s", n)
	}
	if err != nil {
		return halt(state, err)
	}
	b.mu.Lock()
	b.res.Status = "active"
	b.mu.Unlock()
	return multistep.ActionContinue
}

func (*stepPublishImage) Cleanup(multistep.StateBag) {}
