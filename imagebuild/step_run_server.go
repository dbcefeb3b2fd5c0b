package imagebuild

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/openstack"
)

// stepRunServer boots a server of role (the builder from the source image, the
// verification server from the new image, the probe from the active image) with the
// build's keypair, tagged with the build, and waits for ACTIVE. Cleanup deletes it and
// waits until it is gone; a failed build's builder is kept on request.
type stepRunServer struct {
	role string
	id   string
}

func (s *stepRunServer) Name() string { return "run " + s.role + " server" }

func (s *stepRunServer) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	fam := b.opts.Family
	spec := openstack.ServerSpec{
		Name: b.name() + "-" + s.role, ImageID: bootImage(state, s.role),
		Flavor: fam.Flavor, Network: fam.Network, KeyName: keypairName(state),
		Metadata: b.tagMetadata(s.role),
	}
	if s.role == roleBuilder && fam.KeyName != "" {
		// The family's keypair is trusted too, so an operator can log in to a kept builder.
		kp, err := b.cloud.GetKeypair(ctx, fam.KeyName)
		if err != nil {
			return halt(state, fmt.Errorf("read keypair %s of family %s: %w", fam.KeyName, fam.Name, err))
		}
		spec.UserData = []byte("#cloud-config\nssh_authorized_keys:\n  - " + strings.TrimSpace(kp.PublicKey) + "\n")
	}
	srv, err := b.cloud.CreateServer(ctx, spec)
	if err != nil {
		return halt(state, fmt.Errorf("create %s server %s from image %s: %w", s.role, spec.Name, spec.ImageID, err))
	}
	s.id = srv.ID
	state.Put(serverKey(s.role), srv)
	srv, err = b.cloud.WaitServerActive(ctx, srv.ID)
	if err != nil {
		return halt(state, fmt.Errorf("%s server %s (%s): %w", s.role, spec.Name, s.id, err))
	}
	if srv.AccessIP == "" {
		return halt(state, fmt.Errorf("%s server %s (%s) has no address on network %s", s.role, srv.Name, srv.ID, fam.Network))
	}
	state.Put(serverKey(s.role), srv)
	b.log.Info("server active", "role", s.role, "server", srv.ID, "address", srv.AccessIP, "image", spec.ImageID)
	return multistep.ActionContinue
}

func (s *stepRunServer) Cleanup(state multistep.StateBag) {
	if s.id == "" {
		return
	}
	b := buildOf(state)
	if s.role == roleBuilder && b.failed && b.opts.KeepBuilderOnFailure {
		srv, _ := server(state, s.role)
		b.kept(fmt.Sprintf("builder server %s (%s) at %s", srv.Name, s.id, srv.AccessIP))
		return
	}
	ctx, cancel := b.cleanupCtx()
	defer cancel()
	if err := b.cloud.DeleteServer(ctx, s.id); err != nil {
		b.log.Error("delete server", "role", s.role, "server", s.id, "err", err)
		b.note("could not delete %s server %s: %v (the next build removes it)", s.role, s.id, err)
		return
	}
	// Build waits for it to be gone at the end: the pipeline goes on meanwhile.
	b.mu.Lock()
	b.deletes = append(b.deletes, s.id)
	b.mu.Unlock()
}
