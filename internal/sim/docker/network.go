package docker

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// privateNetwork is the Docker network the servers of one driver instance live on.
type privateNetwork struct {
	id, name string
	subnet   netip.Prefix
	gateway  netip.Addr
}

// subnetBase is the /16 private networks are carved from, one /24 per driver instance; the
// third octet also picks the instance's floating-IP range (see publicPlan).
var subnetBase = netip.MustParsePrefix("10.231.0.0/16")

func networkName(instance string) string { return "remint-sim-" + instance }

// ensureNetwork reuses the instance's network or creates it on a /24 of subnetBase that no
// existing network overlaps. Two simulators racing for the same /24 are told apart by the
// engine refusing the overlapping pool; the loser tries the next one.
func ensureNetwork(ctx context.Context, engine Engine, instance string, log *slog.Logger) (privateNetwork, error) {
	name := networkName(instance)
	if n, err := engine.NetworkInspect(ctx, name, network.InspectOptions{}); err == nil {
		pn, err := fromInspect(n)
		if err != nil {
			return privateNetwork{}, err
		}
		log.Info("reusing network", "network", name, "subnet", pn.subnet)
		return pn, nil
	} else if !isNotFound(err) {
		return privateNetwork{}, fmt.Errorf("docker driver: inspect network %s: %w", name, err)
	}

	existing, err := engine.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return privateNetwork{}, fmt.Errorf("docker driver: list networks: %w", err)
	}
	var taken []netip.Prefix
	for _, n := range existing {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				taken = append(taken, p)
			}
		}
	}
	for _, subnet := range freeSubnets(subnetBase, taken) {
		gw := subnet.Addr().Next()
		resp, err := engine.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge",
			// Internal: servers reach the host (the apt repository on the gateway) and each
			// other, never the Internet, so no test depends on or leaks to the outside.
			Internal: true,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet: subnet.String(), Gateway: gw.String(),
			}}},
			Labels: map[string]string{LabelSim: instance},
		})
		if err != nil {
			if strings.Contains(err.Error(), "overlap") {
				continue // taken since we listed
			}
			return privateNetwork{}, fmt.Errorf("docker driver: create network %s on %s: %w", name, subnet, err)
		}
		log.Info("network created", "network", name, "subnet", subnet)
		return privateNetwork{id: resp.ID, name: name, subnet: subnet, gateway: gw}, nil
	}
	return privateNetwork{}, fmt.Errorf("docker driver: create network %s: no free /24 left in %s", name, subnetBase)
}

func fromInspect(n network.Inspect) (privateNetwork, error) {
	for _, c := range n.IPAM.Config {
		subnet, err := netip.ParsePrefix(c.Subnet)
		if err != nil || !subnet.Addr().Is4() {
			continue
		}
		gw := subnet.Addr().Next()
		if c.Gateway != "" {
			if g, err := netip.ParseAddr(c.Gateway); err == nil {
				gw = g
			}
		}
		return privateNetwork{id: n.ID, name: n.Name, subnet: subnet.Masked(), gateway: gw}, nil
	}
	return privateNetwork{}, fmt.Errorf("docker driver: network %s has no IPv4 subnet", n.Name)
}

// freeSubnets lists the /24s of base that overlap none of taken, lowest first.
func freeSubnets(base netip.Prefix, taken []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	a := base.Masked().Addr().As4()
	for third := 0; third < 256; third++ {
		a[2] = byte(third)
		p := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		if !base.Contains(p.Addr()) {
			break
		}
		free := true
		for _, t := range taken {
			if t.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			out = append(out, p)
		}
	}
	return out
}

// publicPlan is the loopback /24 floating IPs of the instance on private listen on: the
// private network's third octet keeps parallel instances apart.
func publicPlan(private netip.Prefix) netip.Prefix {
	a := private.Addr().As4()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 231, a[2], 0}), 24)
}

func isNotFound(err error) bool { return errdefs.IsNotFound(err) }
