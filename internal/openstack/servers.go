package openstack

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// CreateServer boots a server. The flavor and network may be given by name or id;
// they are resolved to ids (and remembered). It returns as soon as Nova accepted the
// request, with Status BUILD: use WaitServerActive.
//
// Server create is not idempotent, so it is retried only when the request surely did
// not reach Nova (429, 503, connection refused); tag servers (Metadata) so that a
// duplicate left by an ambiguous failure can be found.
func (c *Client) CreateServer(ctx context.Context, spec ServerSpec) (Server, error) {
	if spec.Name == "" || spec.ImageID == "" || spec.Flavor == "" {
		return Server{}, Terminal(fmt.Errorf("create server %q: name, image and flavor are required", spec.Name))
	}
	flavor, err := c.GetFlavor(ctx, spec.Flavor)
	if err != nil {
		return Server{}, fmt.Errorf("create server %s: %w", spec.Name, err)
	}
	var networks any = "none"
	if spec.Network != "" {
		nw, err := c.GetNetwork(ctx, spec.Network)
		if err != nil {
			return Server{}, fmt.Errorf("create server %s: %w", spec.Name, err)
		}
		networks = []servers.Network{{UUID: nw.ID}}
	}
	base := servers.CreateOpts{
		Name:           spec.Name,
		ImageRef:       spec.ImageID,
		FlavorRef:      flavor.ID,
		SecurityGroups: spec.SecurityGroups,
		Networks:       networks,
		Metadata:       spec.Metadata,
	}
	if len(spec.UserData) > 0 {
		// Encode here: gophercloud passes data through unencoded when it happens to be
		// valid base64 already, which raw user data can be.
		base.UserData = []byte(base64.StdEncoding.EncodeToString(spec.UserData))
	}
	var opts servers.CreateOptsBuilder = base
	if spec.KeyName != "" {
		opts = keypairs.CreateOptsExt{CreateOptsBuilder: base, KeyName: spec.KeyName}
	}
	op := fmt.Sprintf("create server %s (image %s, flavor %s)", spec.Name, spec.ImageID, flavor.Name)
	s, err := call(ctx, c, op, createOnce, func(ctx context.Context) (*servers.Server, error) {
		return servers.Create(ctx, c.compute, opts, nil).Extract()
	})
	if err != nil {
		return Server{}, err
	}
	return Server{
		ID:         s.ID,
		Name:       spec.Name,
		Status:     "BUILD",
		ImageID:    spec.ImageID,
		FlavorID:   flavor.ID,
		FlavorName: flavor.Name,
		KeyName:    spec.KeyName,
		Metadata:   maps.Clone(spec.Metadata),
	}, nil
}

// GetServer reads one server.
func (c *Client) GetServer(ctx context.Context, id string) (Server, error) {
	s, err := call(ctx, c, "get server "+id, idempotent, func(ctx context.Context) (*servers.Server, error) {
		return servers.Get(ctx, c.compute, id).Extract()
	})
	if err != nil {
		return Server{}, err
	}
	return serverFrom(s), nil
}

// ListServers lists the project's servers whose name starts with opts.NamePrefix and
// whose metadata has every key and value of opts.Metadata. Nova filters the name (a
// regular expression anchored at the start); metadata is filtered here, as Nova
// cannot. Every page is read.
func (c *Client) ListServers(ctx context.Context, opts ListServersOpts) ([]Server, error) {
	return c.ListServersChangedSince(ctx, opts, time.Time{})
}

// ListServersChangedSince is ListServers limited to the servers Nova saw change at or
// after since (changes-since), recently deleted ones included with Status DELETED: one
// GET /servers/detail (per page of 1000) for any number of servers, the batched status
// poll. Nova's timestamps have whole seconds and its clock is not ours: pass a since
// taken from an earlier answer's Updated, minus a second, rather than the local clock.
// A zero since lists without the filter (deleted servers then are not listed).
func (c *Client) ListServersChangedSince(ctx context.Context, opts ListServersOpts, since time.Time) ([]Server, error) {
	lo := servers.ListOpts{}
	if opts.NamePrefix != "" {
		lo.Name = "^" + regexp.QuoteMeta(opts.NamePrefix)
	}
	op := "list servers"
	if opts.NamePrefix != "" {
		op += " named " + opts.NamePrefix + "*"
	}
	if opts.NameRegexp != "" {
		lo.Name = opts.NameRegexp
		op = "list servers named like " + opts.NameRegexp
	}
	if !since.IsZero() {
		lo.ChangesSince = since.UTC().Format(time.RFC3339)
		op += " changed since " + lo.ChangesSince
	}
	all, err := call(ctx, c, op, idempotent, func(ctx context.Context) ([]servers.Server, error) {
		pages, err := servers.List(c.compute, lo).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		return servers.ExtractServers(pages)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Server, 0, len(all))
	for i := range all {
		s := serverFrom(&all[i])
		if !strings.HasPrefix(s.Name, opts.NamePrefix) || !hasMetadata(s.Metadata, opts.Metadata) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func hasMetadata(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// DeleteServer asks Nova to delete a server; a server that is already gone is success.
// Deletion is asynchronous: use WaitServerDeleted.
func (c *Client) DeleteServer(ctx context.Context, id string) error {
	err := call0(ctx, c, "delete server "+id, idempotent, func(ctx context.Context) error {
		return servers.Delete(ctx, c.compute, id).ExtractErr()
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// WaitServerActive waits until the server is ACTIVE and returns it. ERROR is terminal
// and the error carries Nova's fault message; a server that disappears is ErrNotFound.
func (c *Client) WaitServerActive(ctx context.Context, id string) (Server, error) {
	var last Server
	err := c.wait(ctx, "server "+id+" to become ACTIVE", func(ctx context.Context) (pollResult, error) {
		s, err := c.GetServer(ctx, id)
		if err != nil {
			return pollResult{}, err
		}
		last = s
		switch s.Status {
		case "ACTIVE":
			return pollResult{done: true, status: s.Status}, nil
		case "ERROR":
			return pollResult{}, Terminal(fmt.Errorf("server %s (%s) went to ERROR: %s", s.Name, s.ID, orUnknown(s.Fault)))
		case "DELETED", "SOFT_DELETED":
			return pollResult{}, Terminal(fmt.Errorf("server %s (%s) is %s: %w", s.Name, s.ID, s.Status, ErrNotFound))
		}
		return pollResult{status: s.Status}, nil
	})
	if err != nil {
		return last, err
	}
	return last, nil
}

// WaitServerDeleted waits until Nova no longer knows the server.
func (c *Client) WaitServerDeleted(ctx context.Context, id string) error {
	return c.wait(ctx, "server "+id+" to be deleted", func(ctx context.Context) (pollResult, error) {
		s, err := c.GetServer(ctx, id)
		if IsNotFound(err) {
			return pollResult{done: true, status: "deleted"}, nil
		}
		if err != nil {
			return pollResult{}, err
		}
		if s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			return pollResult{done: true, status: s.Status}, nil
		}
		return pollResult{status: s.Status}, nil
	})
}

// RebootServer reboots a server, soft (ACPI) or hard (power cycle). Wait for it with
// WaitServerActive.
func (c *Client) RebootServer(ctx context.Context, id string, hard bool) error {
	method, kind := servers.SoftReboot, "soft"
	if hard {
		method, kind = servers.HardReboot, "hard"
	}
	return call0(ctx, c, kind+" reboot server "+id, idempotent, func(ctx context.Context) error {
		return servers.Reboot(ctx, c.compute, id, servers.RebootOpts{Type: method}).ExtractErr()
	})
}

// CreateServerImage snapshots a server into a new Glance image and returns its id;
// the image becomes active later (WaitImageActive). metadata becomes image
// properties. It needs compute microversion 2.45 or later.
func (c *Client) CreateServerImage(ctx context.Context, serverID, name string, metadata map[string]string) (string, error) {
	op := fmt.Sprintf("create image %s of server %s", name, serverID)
	return call(ctx, c, op, createOnce, func(ctx context.Context) (string, error) {
		return servers.CreateImage(ctx, c.compute, serverID, servers.CreateImageOpts{Name: name, Metadata: metadata}).ExtractImageID()
	})
}

// ConsoleLog returns the last lines of the server's console log; lines <= 0 means all.
func (c *Client) ConsoleLog(ctx context.Context, id string, lines int) (string, error) {
	if lines < 0 {
		lines = 0
	}
	return call(ctx, c, "read console log of server "+id, idempotent, func(ctx context.Context) (string, error) {
		return servers.ShowConsoleOutput(ctx, c.compute, id, servers.ShowConsoleOutputOpts{Length: lines}).Extract()
	})
}

// SetServerMetadata merges md into the server's metadata (keys not in md are kept).
func (c *Client) SetServerMetadata(ctx context.Context, id string, md map[string]string) error {
	keys := slices.Sorted(maps.Keys(md))
	op := fmt.Sprintf("set metadata %s on server %s", strings.Join(keys, ","), id)
	return call0(ctx, c, op, idempotent, func(ctx context.Context) error {
		_, err := servers.UpdateMetadata(ctx, c.compute, id, servers.MetadataOpts(md)).Extract()
		return err
	})
}

// DeleteServerMetadata removes one metadata key; a key (or server) that is already
// gone is success.
func (c *Client) DeleteServerMetadata(ctx context.Context, id, key string) error {
	err := call0(ctx, c, fmt.Sprintf("delete metadata %s of server %s", key, id), idempotent, func(ctx context.Context) error {
		return servers.DeleteMetadatum(ctx, c.compute, id, key).ExtractErr()
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// GetFlavor finds a flavor by id or, failing that, by unique name. Results are
// remembered for the life of the Client.
func (c *Client) GetFlavor(ctx context.Context, ref string) (Flavor, error) {
	c.mu.Lock()
	f, ok := c.flavors[ref]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	fl, err := call(ctx, c, "get flavor "+ref, idempotent, func(ctx context.Context) (*flavors.Flavor, error) {
		return flavors.Get(ctx, c.compute, ref).Extract()
	})
	if IsNotFound(err) {
		fl, err = c.findFlavorByName(ctx, ref)
	}
	if err != nil {
		return Flavor{}, err
	}
	f = Flavor{ID: fl.ID, Name: fl.Name, VCPUs: fl.VCPUs, RAM: fl.RAM, Disk: fl.Disk}
	c.mu.Lock()
	c.flavors[ref] = f
	c.mu.Unlock()
	return f, nil
}

func (c *Client) findFlavorByName(ctx context.Context, name string) (*flavors.Flavor, error) {
	all, err := call(ctx, c, "list flavors to find "+name, idempotent, func(ctx context.Context) ([]flavors.Flavor, error) {
		pages, err := flavors.ListDetail(c.compute, nil).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		return flavors.ExtractFlavors(pages)
	})
	if err != nil {
		return nil, err
	}
	var found []*flavors.Flavor
	for i := range all {
		if all[i].Name == name {
			found = append(found, &all[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, Terminal(fmt.Errorf("flavor %q: no flavor has this id or name: %w", name, ErrNotFound))
	case 1:
		return found[0], nil
	}
	return nil, Terminal(fmt.Errorf("flavor %q: %d flavors have this name, use the id: %w", name, len(found), ErrAmbiguous))
}

// ComputeLimits returns the project's instance, core and RAM quota and usage.
func (c *Client) ComputeLimits(ctx context.Context) (Limits, error) {
	l, err := call(ctx, c, "read compute limits", idempotent, func(ctx context.Context) (*limits.Limits, error) {
		return limits.Get(ctx, c.compute, nil).Extract()
	})
	if err != nil {
		return Limits{}, err
	}
	a := l.Absolute
	return Limits{
		MaxInstances: a.MaxTotalInstances, UsedInstances: a.TotalInstancesUsed,
		MaxCores: a.MaxTotalCores, UsedCores: a.TotalCoresUsed,
		MaxRAM: a.MaxTotalRAMSize, UsedRAM: a.TotalRAMUsed,
	}, nil
}

// serverFrom converts gophercloud's server.
func serverFrom(s *servers.Server) Server {
	out := Server{
		ID:       s.ID,
		Name:     s.Name,
		Status:   s.Status,
		KeyName:  s.KeyName,
		Metadata: s.Metadata,
		Fault:    s.Fault.Message,
		Created:  s.Created,
		Updated:  s.Updated,
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	out.ImageID, _ = s.Image["id"].(string)
	out.FlavorID, _ = s.Flavor["id"].(string)
	if name, ok := s.Flavor["original_name"].(string); ok {
		out.FlavorName = name
	} else if name, ok := s.Flavor["name"].(string); ok {
		out.FlavorName = name
	}
	out.Addresses, out.AccessIP = fixedAddresses(s.Addresses)
	if s.AccessIPv4 != "" && out.AccessIP == "" {
		out.AccessIP = s.AccessIPv4
	}
	return out
}

// fixedAddresses reads Nova's addresses ({"net": [{"addr", "version",
// "OS-EXT-IPS:type"}]}) into fixed addresses per network and the first fixed IPv4
// address, taking networks in name order.
func fixedAddresses(raw map[string]any) (map[string][]string, string) {
	out := map[string][]string{}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	access := ""
	for _, n := range names {
		list, _ := raw[n].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			addr, _ := m["addr"].(string)
			if addr == "" {
				continue
			}
			if typ, _ := m["OS-EXT-IPS:type"].(string); typ != "" && typ != "fixed" {
				continue
			}
			out[n] = append(out[n], addr)
			if ip := net.ParseIP(addr); access == "" && ip != nil && ip.To4() != nil {
				access = addr
			}
		}
	}
	return out, access
}
