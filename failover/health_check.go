package failover

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
)

// HeaderServerID is the response header in which a workload names the server that
// answered (the simulator's workload sets it; so can any application).
const HeaderServerID = "X-Remint-Server-Id"

// HTTPGate is the post-move health gate for HTTP checks: one GET of the health path
// through the failover address must answer the expected status (and body substring),
// and when the answer names its server (HeaderServerID), it must be the replacement.
// That proves the address really moved, not just that something healthy answers.
type HTTPGate struct {
	Check manifest.HTTPCheck
}

// CheckAddress implements AddressChecker.
func (g HTTPGate) CheckAddress(ctx context.Context, address, serverID string) error {
	url := "http://" + net.JoinHostPort(address, strconv.Itoa(g.Check.Port)) + g.Check.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("gate %s: %w", url, err)
	}
	req.Close = true
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("gate %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("gate %s: read body: %w", url, err)
	}
	if resp.StatusCode != g.Check.Status {
		return fmt.Errorf("gate %s: status %d, want %d", url, resp.StatusCode, g.Check.Status)
	}
	if g.Check.Body != "" && !strings.Contains(string(body), g.Check.Body) {
		return fmt.Errorf("gate %s: body lacks %q", url, g.Check.Body)
	}
	if got := resp.Header.Get(HeaderServerID); got != "" && got != serverID {
		return fmt.Errorf("gate %s: answered by server %s, want the replacement %s", url, got, serverID)
	}
	return nil
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
	if hc.HTTP != nil {
		gate = HTTPGate{Check: *hc.HTTP}
	}
	return p, pol, gate, nil
}
