package imagebuild

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
)

// stepCreateKeypair makes a temporary ECDSA key for this build and imports its public
// half as a Nova keypair; the private key lives only in memory. Cleanup deletes the
// keypair, unless the builder is kept on request (an operator logs in to a kept builder
// with the family's own key_name, which the builder also trusts).
type stepCreateKeypair struct {
	name string
}

func (*stepCreateKeypair) Name() string { return "create keypair" }

func (s *stepCreateKeypair) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return halt(state, fmt.Errorf("generate the build's SSH key: %w", err))
	}
	sg, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return halt(state, fmt.Errorf("generate the build's SSH key: %w", err))
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sg.PublicKey()))) + " " + b.name()
	kp, err := b.cloud.CreateKeypair(ctx, b.name(), pub)
	if err != nil {
		return halt(state, err) // the adapter names the keypair
	}
	s.name = kp.Name
	state.Put(keyKeypair, kp.Name)
	state.Put(keyAccess, &remote.Access{
		Cloud: b.cloud, User: b.opts.Family.SSHUser, Signer: sg, Logger: b.log,
		Servers: openstack.ListServersOpts{NamePrefix: b.name() + "-"},
	})
	return multistep.ActionContinue
}

func (s *stepCreateKeypair) Cleanup(state multistep.StateBag) {
	if s.name == "" {
		return
	}
	b := buildOf(state)
	if b.failed && b.opts.KeepBuilderOnFailure {
		b.kept("keypair " + s.name)
		return
	}
	ctx, cancel := b.cleanupCtx()
	defer cancel()
	if err := b.cloud.DeleteKeypair(ctx, s.name); err != nil {
		b.log.Error("delete the build's keypair", "keypair", s.name, "err", err)
		b.note("could not delete keypair %s: %v (the next build removes it)", s.name, err)
	}
}
