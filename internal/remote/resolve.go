package remote

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/remint-dev/remint/internal/openstack"
)

// serverAt returns the server behind address host. A floating address is resolved in the
// cloud every time (it moves between servers: that is what it is for). A fixed address is
// remembered once found (cached reports that it came from memory), unless useCache is false.
func (a *Access) serverAt(ctx context.Context, host string, useCache bool) (srv openstack.Server, cached bool, err error) {
	if useCache {
		a.mu.Lock()
		srv, cached = a.fixed[host]
		a.mu.Unlock()
		if cached {
			return srv, true, nil
		}
	}
	fip, err := a.Cloud.FindFloatingIP(ctx, host)
	switch {
	case err == nil:
		if fip.FixedIP == "" {
			return srv, false, fmt.Errorf("ssh to floating IP %s: it is associated with no server", host)
		}
		srv, err = a.serverWithFixedIP(ctx, fip.FixedIP)
		if err != nil {
			return srv, false, fmt.Errorf("ssh to floating IP %s (now on fixed address %s): %w", host, fip.FixedIP, err)
		}
		a.log().Debug("floating address resolved", "addr", host, "server", srv.ID, "fixed", fip.FixedIP)
		return srv, false, nil
	case openstack.IsNotFound(err):
		srv, err = a.serverWithFixedIP(ctx, host)
		if err != nil {
			return srv, false, fmt.Errorf("ssh to %s: %w", host, err)
		}
		a.mu.Lock()
		if a.fixed == nil {
			a.fixed = map[string]openstack.Server{}
		}
		a.fixed[host] = srv
		a.mu.Unlock()
		return srv, false, nil
	default:
		return srv, false, fmt.Errorf("ssh to %s: find out whether it is a floating IP: %w", host, err)
	}
}

// serverWithFixedIP finds the one server (among a.Servers) that has the fixed address ip.
func (a *Access) serverWithFixedIP(ctx context.Context, ip string) (openstack.Server, error) {
	list, err := a.Cloud.ListServers(ctx, a.Servers)
	if err != nil {
		return openstack.Server{}, fmt.Errorf("find the server with address %s: %w", ip, err)
	}
	var found []openstack.Server
	for _, s := range list {
		if s.AccessIP == ip || hasAddress(s, ip) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		where := "no server"
		if a.Servers.NamePrefix != "" {
			where = "no server named " + a.Servers.NamePrefix + "…"
		}
		return openstack.Server{}, fmt.Errorf("%s has the address %s", where, ip)
	}
	ids := make([]string, len(found))
	for i, s := range found {
		ids[i] = s.ID
	}
	return openstack.Server{}, fmt.Errorf("%d servers have the address %s (%s): cannot tell whose host key to expect", len(found), ip, strings.Join(ids, ", "))
}

func hasAddress(s openstack.Server, ip string) bool {
	for _, addrs := range s.Addresses {
		if slices.Contains(addrs, ip) {
			return true
		}
	}
	return false
}
