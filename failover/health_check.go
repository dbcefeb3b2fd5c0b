package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/health"
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

// ProbesFor builds the replacement prober, its policy and the address gate for a spec.
// Command checks need an SSH runner, which failover does not have: runner may be nil
// for HTTP and TCP checks. A spec with no check at all gets a nil prober (ACTIVE is
// then taken as healthy), which the caller should refuse unless it is meant.
func ProbesFor(s Spec, runner health.Runner) (health.Prober, health.Policy, AddressChecker, error) {
	hc := s.Health.Check
	if hc.HTTP == nil && hc.TCP == nil && hc.Command == "" {
		return nil, health.Policy{}, nil, nil
	}
	hc.Interval, hc.Timeout, hc.HealthyThreshold, hc.GracePeriod, hc.Deadline =
		s.Health.Interval, s.Health.Timeout, s.Health.HealthyThreshold, s.Health.GracePeriod, s.Health.Deadline
	p, pol, err := health.FromManifest(hc, runner)
	if err != nil {
		return nil, pol, nil, fmt.Errorf("group %s: %w", s.Group, err)
	}
	var gate AddressChecker
	if h, ok := p.(health.HTTP); ok {
		gate = HTTPGate{Probe: h}
	}
	return p, pol, gate, nil
}
