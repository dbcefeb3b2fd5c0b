package failover

import (
	"context"
	"errors"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// AddressMover reads floating IPs, moves them between ports with Neutron's revision
// check, and finds a server's port: the move, the move back on failure, the
// unassociation before a server goes away and rollback consume it.
type AddressMover interface {
	GetFloatingIP(ctx context.Context, id string) (openstack.FloatingIP, error)
	// AssociateFloatingIP and DisassociateFloatingIP with revision > 0 succeed only if
	// the floating IP is still at that revision (If-Match); otherwise they fail with a
	// conflict (412) and the caller reads again and decides again.
	AssociateFloatingIP(ctx context.Context, fipID, portID string, revision int) (openstack.FloatingIP, error)
	DisassociateFloatingIP(ctx context.Context, fipID string, revision int) (openstack.FloatingIP, error)
	PortsOfServer(ctx context.Context, serverID string) ([]openstack.Port, error)
}

// move is StateMoving: the slot's address moves from the old server (or from nowhere)
// to the replacement. It refuses to take an address that points at any other server.
func (e *Executor) move(ctx context.Context, r *run, st *store.Step) error {
	newPort, err := e.cachedPortOf(ctx, r, st.NewServerID)
	if err != nil {
		return err
	}
	oldPort := ""
	_, fromCache := r.fip(st.AddressID)
	fip, err := e.cachedAddress(ctx, r, st.AddressID)
	if err != nil {
		return err
	}
	if fip.PortID != "" && fip.PortID != newPort && st.OldServerID != "" {
		if oldPort, err = e.cachedPortOf(ctx, r, st.OldServerID); err != nil && !openstack.IsNotFound(err) {
			return err
		}
	}
	if fip.PortID != "" && fip.PortID != newPort && fip.PortID != oldPort {
		if fromCache {
			r.dropFIP(st.AddressID) // decide again on a fresh read
			return e.move(ctx, r, st)
		}
		return fmt.Errorf("failover address %s: %w (port %s, the slot's server is %s); not forcing it", st.Address, errAddressTaken, fip.PortID, orNone(st.OldServerID))
	}
	moved, err := e.moveAddress(ctx, st.AddressID, fip.PortID, newPort, &fip)
	if errors.Is(err, errAddressTaken) && fromCache {
		// Decided on a copy that turned out stale: decide again on a fresh read.
		r.dropFIP(st.AddressID)
		return e.move(ctx, r, st)
	}
	if err != nil {
		return err
	}
	r.setFIP(moved)
	if err := e.crashPoint("moved"); err != nil {
		return err
	}
	return e.enter(ctx, st, StateGating, st.NewServerID, fmt.Sprintf("%s moved to the replacement; checking through it", st.Address))
}

// cachedPortOf is portOf answered from the run's cache when the batched poll (or the
// prefetch of old servers' ports) already found the port.
func (e *Executor) cachedPortOf(ctx context.Context, r *run, serverID string) (string, error) {
	if p := r.port(serverID); p != "" {
		return p, nil
	}
	if f := r.portFuture(serverID); f != nil {
		if p := f.port(ctx); p != "" {
			r.setPort(serverID, p)
			return p, nil
		}
	}
	return e.portOf(ctx, serverID)
}

// cachedAddress is the floating IP as this run last read or wrote it, or read now. The
// move that follows carries its revision, so a stale copy is caught by Neutron (412)
// and moveAddress reads again: the cache saves a GET per slot, never a check.
func (e *Executor) cachedAddress(ctx context.Context, r *run, id string) (openstack.FloatingIP, error) {
	if f, ok := r.fip(id); ok {
		return f, nil
	}
	return e.readAddress(ctx, id)
}

// prefetch fills the run's caches in a few batched calls: the ports of every old server
// whose address will move (one call per 50 servers) and every floating IP (one call).
// A failure only costs the per-slot lookups it would have saved.
func (e *Executor) prefetch(ctx context.Context, r *run, steps []store.Step) {
	var olds []string
	for _, st := range steps {
		if !terminalState(st.State) && st.AddressID != "" && st.OldServerID != "" && Mode(st.Mode) != ModeUnavailable {
			olds = append(olds, st.OldServerID)
		}
	}
	if len(olds) == 0 {
		return
	}
	var ports map[string][]openstack.Port
	if err := e.do(ctx, func(ctx context.Context) (err error) {
		ports, err = e.cloud.PortsOfServers(ctx, olds)
		return err
	}); err != nil {
		e.log.Warn("look up the ports of the old servers in one batch; looking them up one by one", "group", e.spec.Group, "err", err)
	}
	for id, ps := range ports {
		if len(ps) > 0 {
			r.setPort(id, ps[0].ID)
		}
	}
	var fips []openstack.FloatingIP
	if err := e.do(ctx, func(ctx context.Context) (err error) {
		fips, err = e.cloud.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{})
		return err
	}); err != nil {
		e.log.Warn("list floating IPs in one batch; reading them one by one", "group", e.spec.Group, "err", err)
	}
	for _, f := range fips {
		r.setFIP(f)
	}
}

func (e *Executor) portOf(ctx context.Context, serverID string) (string, error) {
	var ports []openstack.Port
	err := e.do(ctx, func(ctx context.Context) (err error) {
		ports, err = e.cloud.PortsOfServer(ctx, serverID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("list ports of server %s: %w", serverID, err)
	}
	if len(ports) == 0 {
		return "", fmt.Errorf("server %s has no port: %w", serverID, openstack.ErrNotFound)
	}
	return ports[0].ID, nil
}

func (e *Executor) readAddress(ctx context.Context, id string) (openstack.FloatingIP, error) {
	var fip openstack.FloatingIP
	err := e.do(ctx, func(ctx context.Context) (err error) {
		fip, err = e.cloud.GetFloatingIP(ctx, id)
		return err
	})
	if err != nil {
		return fip, fmt.Errorf("read floating IP %s: %w", id, err)
	}
	return fip, nil
}

// errAddressTaken says the address points at a server that is neither the one we move
// it from nor the one we move it to: someone else moved it, and remint never forces.
var errAddressTaken = errors.New("failover address points at another server")

// moveAddress moves floating IP fipID from port from (or from nowhere) to port to, with
// the revision check. A stale revision (412) or conflict (409) is answered by reading the
// address again and deciding again: already at to → done; still at from → move again
// with the new revision; anywhere else → stop with errAddressTaken.
//
// read, when not nil, is the floating IP as just read by the caller: the first decision
// uses it instead of reading again.
func (e *Executor) moveAddress(ctx context.Context, fipID, from, to string, read *openstack.FloatingIP) (openstack.FloatingIP, error) {
	var last error
	for range 8 {
		var fip openstack.FloatingIP
		if read != nil {
			fip, read = *read, nil
		} else {
			var err error
			if fip, err = e.readAddress(ctx, fipID); err != nil {
				return fip, err
			}
		}
		switch fip.PortID {
		case to:
			return fip, nil
		case from, "":
		default:
			return fip, fmt.Errorf("move floating IP %s to port %s: %w (port %s, expected %s)", fip.Address, to, errAddressTaken, fip.PortID, orNone(from))
		}
		var (
			moved openstack.FloatingIP
			err   error
		)
		if to == "" {
			moved, err = e.cloud.DisassociateFloatingIP(ctx, fipID, fip.RevisionNumber)
		} else {
			moved, err = e.cloud.AssociateFloatingIP(ctx, fipID, to, fip.RevisionNumber)
		}
		if err == nil {
			return moved, nil
		}
		if ctx.Err() != nil {
			return fip, ctx.Err()
		}
		if openstack.IsConflict(err) || openstack.IsRetryable(err) {
			last = err
			continue // re-read and re-decide
		}
		return fip, fmt.Errorf("move floating IP %s to port %s: %w", fip.Address, orNone(to), err)
	}
	return openstack.FloatingIP{}, fmt.Errorf("move floating IP %s to port %s: gave up after 8 re-reads: %w", fipID, orNone(to), last)
}
