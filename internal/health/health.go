// Package health proves that a server is healthy: probes (HTTP, TCP, a command run over
// SSH, and the cloud's own view for servers with nothing to probe) and Wait, which applies a group's policy (interval, timeout, healthy and unhealthy
// thresholds, grace period, deadline) to one probe against one host.
//
// Entry points: FromManifest, Wait.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/remint-dev/remint/internal/manifest"
)

// Prober checks one host once. Probe returns nil when the host is healthy and an error
// saying what was wrong otherwise. It must return within ctx's deadline.
type Prober interface {
	Probe(ctx context.Context, host string) error
	String() string
}

// HTTP probes GET http://host:Port/Path on a fresh connection and expects Status and a
// body containing Body (when set).
//
// ServerHeader and WantServer prove who answered: when both are set and the response
// carries header ServerHeader, its value must be WantServer. An answer without the
// header passes, since not every application names its server. failover's address gate
// uses it to prove that a floating IP really moved, not just that something healthy
// answers behind it.
type HTTP struct {
	Port         int
	Path         string
	Status       int
	Body         string
	ServerHeader string
	WantServer   string
}

// maxBody bounds how much of a response body a probe reads.
const maxBody = 64 << 10

// Probe implements Prober.
func (h HTTP) Probe(ctx context.Context, host string) error {
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(h.Port)) + h.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	req.Close = true // every probe proves a new connection can be made
	// A transport per probe: no connection is reused across probes, none is left idle.
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("probe %s: read body: %w", url, err)
	}
	if resp.StatusCode != h.Status {
		return fmt.Errorf("probe %s: status %d, want %d", url, resp.StatusCode, h.Status)
	}
	if h.Body != "" && !strings.Contains(string(body), h.Body) {
		return fmt.Errorf("probe %s: body does not contain %q", url, h.Body)
	}
	if h.ServerHeader != "" && h.WantServer != "" {
		if got := resp.Header.Get(h.ServerHeader); got != "" && got != h.WantServer {
			return fmt.Errorf("probe %s: answered by server %s, want %s", url, got, h.WantServer)
		}
	}
	return nil
}

func (h HTTP) String() string {
	s := fmt.Sprintf("http GET :%d%s expect %d", h.Port, h.Path, h.Status)
	if h.Body != "" {
		s += fmt.Sprintf(" containing %q", h.Body)
	}
	if h.ServerHeader != "" && h.WantServer != "" {
		s += fmt.Sprintf(" from server %s", h.WantServer)
	}
	return s
}

// TCP probes that a TCP connection to host:Port can be opened.
type TCP struct {
	Port int
}

// Probe implements Prober.
func (t TCP) Probe(ctx context.Context, host string) error {
	addr := net.JoinHostPort(host, strconv.Itoa(t.Port))
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("probe tcp %s: %w", addr, err)
	}
	return c.Close()
}

func (t TCP) String() string { return fmt.Sprintf("tcp :%d", t.Port) }

// Runner runs a command on a host and returns its exit status; remote SSH execution
// implements it.
type Runner interface {
	RunCheck(ctx context.Context, host string, argv []string) (exitStatus int, output string, err error)
}

// Command probes by running argv on the host through Runner; healthy on exit status 0.
type Command struct {
	Argv   []string
	Runner Runner
}

// Probe implements Prober.
func (c Command) Probe(ctx context.Context, host string) error {
	if c.Runner == nil {
		return errors.New("probe command: no SSH runner configured")
	}
	status, out, err := c.Runner.RunCheck(ctx, host, c.Argv)
	if err != nil {
		return fmt.Errorf("probe command %q on %s: %w", strings.Join(c.Argv, " "), host, err)
	}
	if status != 0 {
		out = strings.TrimSpace(out)
		if len(out) > 200 {
			out = out[len(out)-200:]
		}
		return fmt.Errorf("probe command %q on %s: exit status %d: %s", strings.Join(c.Argv, " "), host, status, out)
	}
	return nil
}

func (c Command) String() string { return "command " + strings.Join(c.Argv, " ") }

// FromManifest builds the prober and policy a group's health check describes. runner is
// needed only for command checks; cloud checks need FromManifestWith. The check is
// expected to be validated and defaulted by the manifest loader.
func FromManifest(hc manifest.HealthCheck, runner Runner) (Prober, Policy, error) {
	return FromManifestWith(hc, Deps{Runner: runner})
}

// Deps are what some checks need: Runner for command checks, Cloud for cloud checks.
type Deps struct {
	Runner Runner
	Cloud  CloudAPI
}

// FromManifestWith is FromManifest for any check kind.
func FromManifestWith(hc manifest.HealthCheck, deps Deps) (Prober, Policy, error) {
	runner := deps.Runner
	pol := Policy{
		Interval: hc.Interval, Timeout: hc.Timeout, HealthyThreshold: hc.HealthyThreshold,
		UnhealthyThreshold: hc.UnhealthyThreshold, GracePeriod: hc.GracePeriod, Deadline: hc.Deadline,
	}.withDefaults()
	switch {
	case hc.HTTP != nil:
		h := HTTP{Port: hc.HTTP.Port, Path: hc.HTTP.Path, Status: hc.HTTP.Status, Body: hc.HTTP.Body}
		if h.Port == 0 {
			h.Port = 8080
		}
		if h.Path == "" {
			h.Path = "/healthz"
		}
		if h.Status == 0 {
			h.Status = http.StatusOK
		}
		return h, pol, nil
	case hc.TCP != nil:
		return TCP{Port: hc.TCP.Port}, pol, nil
	case hc.Command != "":
		argv := strings.Fields(hc.Command)
		return Command{Argv: argv, Runner: runner}, pol, nil
	case hc.Cloud != nil:
		if deps.Cloud == nil {
			return nil, pol, errors.New("health check cloud: needs the cloud API, and none was given here")
		}
		return NewCloud(deps.Cloud), pol, nil
	}
	return nil, pol, errors.New("health check: none of http, tcp, command or cloud is set")
}
