package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/openstack"
)

// stepRemoveLeftovers deletes what earlier builds of the family left behind when they
// were killed: servers and snapshots tagged with the family, keypairs named after it, and
// candidates that never finished verification. The family's lease guarantees no other
// build of it is running, so everything tagged is a leftover.
type stepRemoveLeftovers struct{}

func (*stepRemoveLeftovers) Name() string { return "remove leftovers" }

func (s *stepRemoveLeftovers) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	fam := b.opts.Family.Name
	var removed []string
	var errs []error

	servers, err := b.cloud.ListServers(ctx, openstack.ListServersOpts{
		NamePrefix: "remint-build-" + fam + "-", Metadata: map[string]string{MetaFamily: fam},
	})
	if err != nil {
		return halt(state, fmt.Errorf("find leftover build servers of family %s: %w", fam, err))
	}
	for _, srv := range servers {
		if srv.Metadata[MetaBuild] == b.id {
			continue
		}
		if err := b.cloud.DeleteServer(ctx, srv.ID); err != nil {
			errs = append(errs, fmt.Errorf("delete leftover server %s: %w", srv.Name, err))
			continue
		}
		if err := b.cloud.WaitServerDeleted(ctx, srv.ID); err != nil {
			errs = append(errs, fmt.Errorf("wait for leftover server %s to go: %w", srv.Name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("server %s (%s, build %s)", srv.Name, srv.ID, srv.Metadata[MetaBuild]))
	}

	kps, err := b.cloud.ListKeypairs(ctx)
	if err != nil {
		return halt(state, fmt.Errorf("find leftover build keypairs of family %s: %w", fam, err))
	}
	for _, kp := range kps {
		if !isBuildKeypair(kp.Name, fam) || kp.Name == b.name() {
			continue
		}
		if err := b.cloud.DeleteKeypair(ctx, kp.Name); err != nil {
			errs = append(errs, fmt.Errorf("delete leftover keypair %s: %w", kp.Name, err))
			continue
		}
		removed = append(removed, "keypair "+kp.Name)
	}

	// Snapshots not yet added to the catalog still carry the family tag.
	imgs, err := b.cloud.ListImages(ctx, openstack.ListImagesOpts{Properties: map[string]string{MetaFamily: fam}, IncludeHidden: true})
	if err != nil {
		return halt(state, fmt.Errorf("find leftover build images of family %s: %w", fam, err))
	}
	for _, img := range imgs {
		if img.Properties[MetaBuild] == b.id || img.Properties[MetaFamily] != fam {
			continue
		}
		if err := b.cloud.DeleteImage(ctx, img.ID); err != nil {
			errs = append(errs, fmt.Errorf("delete leftover image %s: %w", img.ID, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("image %s (%s, build %s)", img.Name, img.ID, img.Properties[MetaBuild]))
	}
	// Candidates whose build died before verification recorded a result.
	entries, err := b.cat.List(ctx, fam)
	if err != nil {
		return halt(state, err)
	}
	for _, e := range entries {
		props := e.Image.Properties
		if e.State != catalog.Candidate || props[catalog.PropBuildID] == "" || props[catalog.PropBuildID] == b.id || props[catalog.PropVerification] != "" {
			continue
		}
		if err := b.cat.DeleteCandidate(ctx, e.Image.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, fmt.Sprintf("unverified candidate %s %s (image %s, build %s)", fam, e.Version, e.Image.ID, props[catalog.PropBuildID]))
	}
	b.mu.Lock()
	b.res.Removed = append(b.res.Removed, removed...)
	b.mu.Unlock()
	for _, r := range removed {
		b.log.Info("removed a leftover of an earlier build", "what", r)
	}
	if err := errors.Join(errs...); err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

func (*stepRemoveLeftovers) Cleanup(multistep.StateBag) {}

// buildIDRE is what newBuildID makes.
var buildIDRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

// isBuildKeypair reports whether name is a build keypair of family fam:
// remint-build-<fam>-<build id>, and not one of a family whose name starts like fam's
// (deb and deb-kill).
func isBuildKeypair(name, fam string) bool {
	rest, ok := strings.CutPrefix(name, "remint-build-"+fam+"-")
	return ok && buildIDRE.MatchString(rest)
}
