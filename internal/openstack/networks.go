package openstack

import (
	"context"
	"fmt"
	"net/url"
	"regexp"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

// networkWithExternal is a Neutron network with its router:external flag.
type networkWithExternal struct {
	networks.Network
	external.NetworkExternalExt
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// GetNetwork finds a network by id or by unique name. Results are remembered for the
// life of the Client.
func (c *Client) GetNetwork(ctx context.Context, ref string) (Network, error) {
	if ref == "" {
		return Network{}, Terminal(fmt.Errorf("get network: no id or name given: %w", ErrNotFound))
	}
	c.mu.Lock()
	n, ok := c.networks[ref]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	var found *networkWithExternal
	if uuidRE.MatchString(ref) {
		var nw networkWithExternal
		err := call0(ctx, c, "get network "+ref, idempotent, func(ctx context.Context) error {
			return networks.Get(ctx, c.network, ref).ExtractInto(&nw)
		})
		switch {
		case err == nil:
			found = &nw
		case !IsNotFound(err):
			return Network{}, err
		}
	}
	if found == nil {
		var list []networkWithExternal
		err := call0(ctx, c, "find network "+ref, idempotent, func(ctx context.Context) error {
			pages, err := networks.List(c.network, networks.ListOpts{Name: ref}).AllPages(ctx)
			if err != nil {
				return err
			}
			return networks.ExtractNetworksInto(pages, &list)
		})
		if err != nil {
			return Network{}, err
		}
		var named []networkWithExternal
		for _, nw := range list {
			if nw.Name == ref {
				named = append(named, nw)
			}
		}
		switch len(named) {
		case 0:
			return Network{}, Terminal(fmt.Errorf("network %q: no network has this id or name: %w", ref, ErrNotFound))
		case 1:
			found = &named[0]
		default:
			return Network{}, Terminal(fmt.Errorf("network %q: %d networks have this name, use the id: %w", ref, len(named), ErrAmbiguous))
		}
	}
	n = Network{ID: found.ID, Name: found.Name, External: found.External, Subnets: found.Subnets}
	c.mu.Lock()
	c.networks[ref] = n
	c.mu.Unlock()
	return n, nil
}

// PortsOfServer lists the Neutron ports attached to a server (device_id = server id).
func (c *Client) PortsOfServer(ctx context.Context, serverID string) ([]Port, error) {
	list, err := call(ctx, c, "list ports of server "+serverID, idempotent, func(ctx context.Context) ([]ports.Port, error) {
		pages, err := ports.List(c.network, ports.ListOpts{DeviceID: serverID}).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		return ports.ExtractPorts(pages)
	})
	if err != nil {
		return nil, err
	}
	return portsFrom(list, map[string]bool{serverID: true})[serverID], nil
}

// portsPerCall bounds the device ids of one batched ports query, so that its URL stays
// far below the 8 KiB that proxies in front of Neutron commonly accept.
const portsPerCall = 50

// PortsOfServers lists the ports of many servers at once: one GET /v2.0/ports with the
// device_id filter repeated (Neutron matches any of the values) per portsPerCall
// servers. A server with no port maps to nothing.
func (c *Client) PortsOfServers(ctx context.Context, serverIDs []string) (map[string][]Port, error) {
	out := map[string][]Port{}
	for start := 0; start < len(serverIDs); start += portsPerCall {
		chunk := serverIDs[start:min(start+portsPerCall, len(serverIDs))]
		want := map[string]bool{}
		for _, id := range chunk {
			want[id] = true
		}
		op := fmt.Sprintf("list ports of %d servers", len(chunk))
		list, err := call(ctx, c, op, idempotent, func(ctx context.Context) ([]ports.Port, error) {
			pages, err := ports.List(c.network, deviceIDs(chunk)).AllPages(ctx)
			if err != nil {
				return nil, err
			}
			return ports.ExtractPorts(pages)
		})
		if err != nil {
			return nil, err
		}
		for id, ps := range portsFrom(list, want) {
			out[id] = append(out[id], ps...)
		}
	}
	return out, nil
}

// deviceIDs is a ports query for any of several device ids (gophercloud's ListOpts takes
// one).
type deviceIDs []string

func (d deviceIDs) ToPortListQuery() (string, error) {
	q := url.Values{"device_id": d}
	return "?" + q.Encode(), nil
}

// portsFrom converts Neutron's ports by device, keeping only the devices in want.
func portsFrom(list []ports.Port, want map[string]bool) map[string][]Port {
	out := map[string][]Port{}
	for _, p := range list {
		if !want[p.DeviceID] {
			continue
		}
		port := Port{
			ID: p.ID, NetworkID: p.NetworkID, DeviceID: p.DeviceID, DeviceOwner: p.DeviceOwner,
			Status: p.Status, MACAddress: p.MACAddress,
		}
		for _, ip := range p.FixedIPs {
			port.FixedIPs = append(port.FixedIPs, ip.IPAddress)
		}
		out[p.DeviceID] = append(out[p.DeviceID], port)
	}
	return out
}
