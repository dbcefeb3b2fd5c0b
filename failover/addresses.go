package failover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// AddressAllocator finds or allocates the floating IPs the manifest names: by address,
// or from a network on first deploy (found again by its unique description after a crash).
type AddressAllocator interface {
	FindFloatingIP(ctx context.Context, address string) (openstack.FloatingIP, error)
	AllocateFloatingIP(ctx context.Context, networkRef, description string) (openstack.FloatingIP, error)
	ListFloatingIPs(ctx context.Context, opts openstack.ListFloatingIPsOpts) ([]openstack.FloatingIP, error)
}

// LookupAddresses returns the failover address of every slot that has one, without
// allocating anything: an allocate_from address not allocated yet is left out.
func (e *Executor) LookupAddresses(ctx context.Context) (map[int]openstack.FloatingIP, error) {
	recs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	out := map[int]openstack.FloatingIP{}
	for slot := range e.spec.Count {
		a, ok := e.spec.addressOf(slot)
		if !ok {
			continue
		}
		if a.AllocateFrom != "" {
			a = manifest.Address{}
			for _, r := range recs {
				if r.Slot == slot && r.ID != "" {
					a.ID = r.ID
				}
			}
			if a.ID == "" {
				continue
			}
		}
		fip, err := e.resolveAddress(ctx, slot, a)
		if err != nil {
			return out, err
		}
		out[slot] = fip
	}
	return out, nil
}

// resolveAddress returns the floating IP of slot's failover address: by id, by address,
// or allocated from a network on first deploy. An allocation is recorded in the store
// before the cloud is asked (with a unique description) and completed after, so a crash
// in between finds the floating IP by its description instead of allocating a second one.
func (e *Executor) resolveAddress(ctx context.Context, slot int, a manifest.Address) (openstack.FloatingIP, error) {
	switch {
	case a.ID != "":
		fip, err := e.readAddress(ctx, a.ID)
		if err != nil {
			return fip, fmt.Errorf("read failover address %s of slot %s: %w", a.ID, e.spec.slotName(slot), err)
		}
		return fip, nil
	case a.Address != "":
		var fip openstack.FloatingIP
		err := e.do(ctx, func(ctx context.Context) (err error) {
			fip, err = e.cloud.FindFloatingIP(ctx, a.Address)
			return err
		})
		if err != nil {
			return fip, fmt.Errorf("find failover address %s of slot %s: %w", a.Address, e.spec.slotName(slot), err)
		}
		return fip, nil
	case a.AllocateFrom != "":
		return e.allocatedAddress(ctx, slot, a.AllocateFrom)
	}
	return openstack.FloatingIP{}, fmt.Errorf("slot %s: failover address has none of address, id, allocate_from", e.spec.slotName(slot))
}

func (e *Executor) allocatedAddress(ctx context.Context, slot int, network string) (openstack.FloatingIP, error) {
	recs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return openstack.FloatingIP{}, err
	}
	var rec *store.Address
	for i := range recs {
		if recs[i].Slot == slot {
			rec = &recs[i]
		}
	}
	name := e.spec.slotName(slot)
	if rec != nil && rec.ID != "" {
		// Allocated before and recorded: the record is enough here (the move reads the
		// floating IP anyway, and fails clearly if it was released behind remint's back).
		return openstack.FloatingIP{ID: rec.ID, Address: rec.Address}, nil
	}
	if rec == nil {
		rec = &store.Address{Group: e.spec.Group, Slot: slot, AllocatedFrom: network,
			Description: fmt.Sprintf("remint %s failover %s", name, randomHex(4)), Created: e.now()}
		if err := e.store.PutAddress(ctx, *rec); err != nil {
			return openstack.FloatingIP{}, err
		}
	}
	// The intent is recorded. Allocate unless an earlier attempt (this run's, or one
	// before a crash) already did: the unique description finds it.
	var fip openstack.FloatingIP
	err = e.do(ctx, func(ctx context.Context) error {
		all, err := e.cloud.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{})
		if err != nil {
			return fmt.Errorf("look for floating IP %q of slot %s: %w", rec.Description, name, err)
		}
		for _, f := range all {
			if f.Description == rec.Description {
				fip = f
				return nil
			}
		}
		if err := e.crashPoint("allocate " + name); err != nil {
			return err
		}
		fip, err = e.cloud.AllocateFloatingIP(ctx, network, rec.Description)
		if err != nil {
			return fmt.Errorf("allocate failover address for slot %s from %s: %w", name, network, err)
		}
		return e.crashPoint("allocated " + name)
	})
	if err != nil {
		return fip, err
	}
	rec.ID, rec.Address = fip.ID, fip.Address
	if err := e.store.PutAddress(ctx, *rec); err != nil {
		return fip, err
	}
	e.emit(ctx, Event{Slot: slot, Step: "address", Message: fmt.Sprintf("allocated failover address %s from %s", fip.Address, network)})
	return fip, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}
