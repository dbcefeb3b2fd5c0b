package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// Keypair is a Nova keypair.
type Keypair struct {
	Name      string
	PublicKey string
}

// CreateKeypair imports an OpenSSH public key as keypair name (the private key never
// leaves the caller).
func (c *Client) CreateKeypair(ctx context.Context, name, publicKey string) (Keypair, error) {
	kp, err := call(ctx, c, "create keypair "+name, createOnce, func(ctx context.Context) (*keypairs.KeyPair, error) {
		return keypairs.Create(ctx, c.compute, keypairs.CreateOpts{Name: name, PublicKey: publicKey}).Extract()
	})
	if err != nil {
		return Keypair{}, err
	}
	return Keypair{Name: kp.Name, PublicKey: kp.PublicKey}, nil
}

// GetKeypair reads one keypair.
func (c *Client) GetKeypair(ctx context.Context, name string) (Keypair, error) {
	kp, err := call(ctx, c, "read keypair "+name, idempotent, func(ctx context.Context) (*keypairs.KeyPair, error) {
		return keypairs.Get(ctx, c.compute, name, nil).Extract()
	})
	if err != nil {
		return Keypair{}, err
	}
	return Keypair{Name: kp.Name, PublicKey: kp.PublicKey}, nil
}

// ListKeypairs lists the user's keypairs.
func (c *Client) ListKeypairs(ctx context.Context) ([]Keypair, error) {
	return call(ctx, c, "list keypairs", idempotent, func(ctx context.Context) ([]Keypair, error) {
		pages, err := keypairs.List(c.compute, nil).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		all, err := keypairs.ExtractKeyPairs(pages)
		if err != nil {
			return nil, err
		}
		out := make([]Keypair, len(all))
		for i, kp := range all {
			out[i] = Keypair{Name: kp.Name, PublicKey: kp.PublicKey}
		}
		return out, nil
	})
}

// DeleteKeypair deletes a keypair; one already gone is success.
func (c *Client) DeleteKeypair(ctx context.Context, name string) error {
	err := call0(ctx, c, "delete keypair "+name, idempotent, func(ctx context.Context) error {
		return keypairs.Delete(ctx, c.compute, name, nil).ExtractErr()
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// StopServer powers a server off (os-stop). Wait for it with WaitServerStatus(…, "SHUTOFF").
func (c *Client) StopServer(ctx context.Context, id string) error {
	return call0(ctx, c, "stop server "+id, idempotent, func(ctx context.Context) error {
		return servers.Stop(ctx, c.compute, id).ExtractErr()
	})
}

// WaitServerStatus waits until the server has status want; ERROR is terminal.
func (c *Client) WaitServerStatus(ctx context.Context, id, want string) (Server, error) {
	var last Server
	err := c.wait(ctx, fmt.Sprintf("server %s to become %s", id, want), func(ctx context.Context) (pollResult, error) {
		s, err := c.GetServer(ctx, id)
		if err != nil {
			return pollResult{}, err
		}
		last = s
		switch s.Status {
		case want:
			return pollResult{done: true, status: s.Status}, nil
		case "ERROR":
			return pollResult{}, Terminal(fmt.Errorf("server %s (%s) went to ERROR: %s", s.Name, s.ID, orUnknown(s.Fault)))
		}
		return pollResult{status: s.Status}, nil
	})
	return last, err
}
