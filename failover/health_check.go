package failover

import (
	"context"
	"fmt"
	"slices"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/openstack"
)

// HeaderServerID is the response header in which a workload names the server that
// answered (the simulator's workload sets it; so can any application).
const HeaderServerID = "X-Remint-Server-Id"

// HTTPGate is the post-move health gate for HTTP checks: the group's HTTP probe, sent
// through the failover address, must pass (status, body substring), and when the answer
// names its server (HeaderServerID), it must be the replacement. That proves the address
// really moved, not just that something healthy answers.
type HTTPGate struct {
	Probe health.HTTP
}

// CheckAddress implements AddressChecker.
func (g HTTPGate) CheckAddress(ctx context.Context, address, serverID string) error {
	p := g.Probe
	p.ServerHeader, p.WantServer = HeaderServerID, serverID
	return p.Probe(ctx, address)
}

// AddressReader is what the cloud check's address gate reads: the floating IP by its
// address and the replacement's ports. *openstack.Client satisfies it.
type AddressReader interface {
	FindFloatingIP(ctx context.Context, address string) (openstack.FloatingIP, error)
	PortsOfServer(ctx context.Context, serverID string) ([]openstack.Port, error)
}

// AssociationGate is the post-move gate of groups checked by the cloud (health.cloud):
// with nothing to probe through the address, it checks that Neutron has the floating IP
// associated with one of the replacement's ports and that the port is ACTIVE. It proves
// where Neutron sends the address, not that anything answers behind it.
type AssociationGate struct {
	Cloud AddressReader
}

// CheckAddress implements AddressChecker.
func (g AssociationGate) CheckAddress(ctx context.Context, address, serverID string) error {
	fip, err := g.Cloud.FindFloatingIP(ctx, address)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	ports, err := g.Cloud.PortsOfServer(ctx, serverID)
	if err != nil {
		return fmt.Errorf("gate: ports of server %s: %w", serverID, err)
	}
	i := slices.IndexFunc(ports, func(p openstack.Port) bool { return p.ID == fip.PortID })
	switch {
	case fip.PortID == "":
		return fmt.Errorf("gate: floating IP %s is not associated, want server %s", address, serverID)
	case i < 0:
		return fmt.Errorf("gate: floating IP %s is on port %s, not on a port of server %s", address, fip.PortID, serverID)
	case ports[i].Status != "ACTIVE":
		return fmt.Errorf("gate: floating IP %s is on port %s of server %s, whose status is %s, want ACTIVE", address, fip.PortID, serverID, ports[i].Status)
	}
	return nil
}

// ProbeDeps are what some checks need: Runner for command checks (failover has no SSH
// of its own), Cloud for cloud checks and their address gate.
type ProbeDeps struct {
	Runner health.Runner
	Cloud  interface {
		health.CloudAPI
		AddressReader
	}
}

// ProbesFor is ProbesWith for checks that need no cloud API (runner may be nil for HTTP
// and TCP checks).
func ProbesFor(s Spec, runner health.Runner) (health.Prober, health.Policy, AddressChecker, error) {
	return ProbesWith(s, ProbeDeps{Runner: runner})
}

// ProbesWith builds the replacement prober, its policy and the address gate for a spec:
// HTTPGate for HTTP checks, AssociationGate for cloud checks, none (the prober through
// the address) for TCP and command checks. A spec with no check at all gets a nil
// prober (ACTIVE is then taken as healthy), which the caller should refuse unless it
// is meant.
func ProbesWith(s Spec, deps ProbeDeps) (health.Prober, health.Policy, AddressChecker, error) {
	hc := s.Health.Check
	if hc.HTTP == nil && hc.TCP == nil && hc.Command == "" && hc.Cloud == nil {
		return nil, health.Policy{}, nil, nil
	}
	hc.Interval, hc.Timeout, hc.HealthyThreshold, hc.GracePeriod, hc.Deadline =
		s.Health.Interval, s.Health.Timeout, s.Health.HealthyThreshold, s.Health.GracePeriod, s.Health.Deadline
	hd := health.Deps{Runner: deps.Runner}
	if deps.Cloud != nil {
		hd.Cloud = deps.Cloud
	}
	p, pol, err := health.FromManifestWith(hc, hd)
	if err != nil {
		return nil, pol, nil, fmt.Errorf("group %s: %w", s.Group, err)
	}
	var gate AddressChecker
	switch h := p.(type) {
	case health.HTTP:
		gate = HTTPGate{Probe: h}
	case health.ServerProber:
		gate = AssociationGate{Cloud: deps.Cloud}
	}
	return p, pol, gate, nil
}
