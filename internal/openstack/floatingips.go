package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
)

// ListFloatingIPs lists the project's floating IPs matching opts (all pages).
func (c *Client) ListFloatingIPs(ctx context.Context, opts ListFloatingIPsOpts) ([]FloatingIP, error) {
	lo := floatingips.ListOpts{FloatingIP: opts.Address, PortID: opts.PortID, FloatingNetworkID: opts.NetworkID}
	list, err := call(ctx, c, "list floating IPs", idempotent, func(ctx context.Context) ([]floatingips.FloatingIP, error) {
		pages, err := floatingips.List(c.network, lo).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		return floatingips.ExtractFloatingIPs(pages)
	})
	if err != nil {
		return nil, err
	}
	out := make([]FloatingIP, 0, len(list))
	for i := range list {
		f := floatingIPFrom(&list[i])
		// Check the filters again: a cloud that ignores one must not widen the result.
		if (opts.Address != "" && f.Address != opts.Address) ||
			(opts.PortID != "" && f.PortID != opts.PortID) ||
			(opts.NetworkID != "" && f.NetworkID != opts.NetworkID) {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// GetFloatingIP reads one floating IP by id.
func (c *Client) GetFloatingIP(ctx context.Context, id string) (FloatingIP, error) {
	f, err := call(ctx, c, "get floating IP "+id, idempotent, func(ctx context.Context) (*floatingips.FloatingIP, error) {
		return floatingips.Get(ctx, c.network, id).Extract()
	})
	if err != nil {
		return FloatingIP{}, err
	}
	return floatingIPFrom(f), nil
}

// FindFloatingIP finds the floating IP with the given address.
func (c *Client) FindFloatingIP(ctx context.Context, address string) (FloatingIP, error) {
	list, err := c.ListFloatingIPs(ctx, ListFloatingIPsOpts{Address: address})
	if err != nil {
		return FloatingIP{}, fmt.Errorf("find floating IP %s: %w", address, err)
	}
	switch len(list) {
	case 0:
		return FloatingIP{}, Terminal(fmt.Errorf("find floating IP %s: the project has no such floating IP: %w", address, ErrNotFound))
	case 1:
		return list[0], nil
	}
	return FloatingIP{}, Terminal(fmt.Errorf("find floating IP %s: %d floating IPs have this address: %w", address, len(list), ErrAmbiguous))
}

// AllocateFloatingIP allocates a new floating IP from the external network networkRef
// (id or name). Allocation is not idempotent: it is retried only when the request
// surely did not reach Neutron; a description naming the owner lets a duplicate be
// found.
func (c *Client) AllocateFloatingIP(ctx context.Context, networkRef, description string) (FloatingIP, error) {
	nw, err := c.GetNetwork(ctx, networkRef)
	if err != nil {
		return FloatingIP{}, fmt.Errorf("allocate floating IP: %w", err)
	}
	op := "allocate floating IP on network " + nw.Name
	f, err := call(ctx, c, op, createOnce, func(ctx context.Context) (*floatingips.FloatingIP, error) {
		return floatingips.Create(ctx, c.network, floatingips.CreateOpts{
			FloatingNetworkID: nw.ID, Description: description,
		}).Extract()
	})
	if err != nil {
		return FloatingIP{}, err
	}
	return floatingIPFrom(f), nil
}

// AssociateFloatingIP points a floating IP at a port. With revision > 0 the update is
// guarded (If-Match: revision_number=N): if the floating IP changed since it was read,
// Neutron answers 412 and the error is ErrConflict and ErrPreconditionFailed; it is
// not retried, the caller must read it again and decide again. revision 0 means
// unguarded, so a freshly allocated floating IP (Neutron's revision 0) cannot be
// guarded; once associated it is at revision 1 or more.
func (c *Client) AssociateFloatingIP(ctx context.Context, fipID, portID string, revision int) (FloatingIP, error) {
	op := fmt.Sprintf("associate floating IP %s with port %s", fipID, portID)
	return c.updateFloatingIP(ctx, op, fipID, portID, revision)
}

// DisassociateFloatingIP detaches a floating IP from its port, guarded like
// AssociateFloatingIP when revision > 0.
func (c *Client) DisassociateFloatingIP(ctx context.Context, fipID string, revision int) (FloatingIP, error) {
	return c.updateFloatingIP(ctx, "disassociate floating IP "+fipID, fipID, "", revision)
}

func (c *Client) updateFloatingIP(ctx context.Context, op, fipID, portID string, revision int) (FloatingIP, error) {
	opts := floatingips.UpdateOpts{PortID: &portID} // "" is sent as null: disassociate
	if revision > 0 {
		opts.RevisionNumber = &revision
		op = fmt.Sprintf("%s at revision %d", op, revision)
	}
	f, err := call(ctx, c, op, idempotent, func(ctx context.Context) (*floatingips.FloatingIP, error) {
		return floatingips.Update(ctx, c.network, fipID, opts).Extract()
	})
	if err != nil {
		return FloatingIP{}, err
	}
	return floatingIPFrom(f), nil
}

// ReleaseFloatingIP gives a floating IP back to the pool; one already gone is success.
func (c *Client) ReleaseFloatingIP(ctx context.Context, id string) error {
	err := call0(ctx, c, "release floating IP "+id, idempotent, func(ctx context.Context) error {
		return floatingips.Delete(ctx, c.network, id).ExtractErr()
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

func floatingIPFrom(f *floatingips.FloatingIP) FloatingIP {
	return FloatingIP{
		ID:             f.ID,
		Address:        f.FloatingIP,
		NetworkID:      f.FloatingNetworkID,
		PortID:         f.PortID,
		FixedIP:        f.FixedIP,
		Status:         f.Status,
		Description:    f.Description,
		RevisionNumber: f.RevisionNumber,
	}
}
