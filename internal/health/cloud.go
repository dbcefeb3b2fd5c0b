package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/remint-dev/remint/internal/openstack"
)

// CloudAPI is what the cloud check reads from OpenStack; *openstack.Client satisfies it.
type CloudAPI interface {
	GetServer(ctx context.Context, id string) (openstack.Server, error)
	PortsOfServer(ctx context.Context, serverID string) ([]openstack.Port, error)
	// ConsoleLog returns the last lines of the server's console log.
	ConsoleLog(ctx context.Context, id string, lines int) (string, error)
}

// ServerProber is a Prober whose host argument is a server id, not an address: it
// checks the server through the cloud's API. Callers pass Target's answer as the host.
type ServerProber interface {
	Prober
	probesServerIDs()
}

// Target is what to pass to p.Probe for a server: its id for a ServerProber, else
// its address.
func Target(p Prober, serverID, address string) string {
	if _, ok := p.(ServerProber); ok {
		return serverID
	}
	return address
}

// Noter is a Prober that has something to say about a host it passed: what its passes
// did not prove (Cloud: the console log could not be read).
type Noter interface {
	Note(host string) string
}

// consoleLines is how much of the console log each poll reads (its end).
const consoleLines = 200

// bootFinished matches the line that says a server's boot is over: cloud-init's final
// message ("Cloud-init v. 23.1.1 finished at Tue, 28 Feb 2023 09:31:38 +0000.
// Datasource DataSourceOpenStackLocal [net,ver=2].  Up 12.73 seconds"), which the
// simulator's loopback driver prints too, and the docker driver's init
// ("remint-init: boot finished"), which stands in for cloud-init in its containers.
var bootFinished = regexp.MustCompile(`(?m)Cloud-init v\. \S+ finished at |^remint-init: boot finished`)

// Cloud is the check for servers with nothing to probe (workers, batch servers): a
// server passes when Nova says ACTIVE, each of its Neutron ports is ACTIVE (and it has
// one), and, where the console log can be read, the log shows the boot finished. It
// proves the server booted and is wired to its network, not that it does its work.
//
// A console log the cloud will not give (403 by policy, 404/501 where the hypervisor
// has none, 409 "no console available") is skipped: the pass then rests on Nova and
// Neutron alone, and Note says so. Once a server's log was read, a later refusal is a
// failed poll, not a skip. Once a server's log showed the boot finished, later
// polls do not read it again. Use NewCloud; the zero value is not usable.
type Cloud struct {
	api CloudAPI

	mu         sync.Mutex
	finished   map[string]bool   // server id → its console showed the boot finished
	readable   map[string]bool   // server id → its console was read at least once
	unreadable map[string]string // server id → why its console could not be read
}

// NewCloud returns a cloud check reading through api.
func NewCloud(api CloudAPI) *Cloud {
	return &Cloud{api: api, finished: map[string]bool{}, readable: map[string]bool{}, unreadable: map[string]string{}}
}

func (*Cloud) probesServerIDs() {}

// Probe implements Prober: serverID is the server to check.
func (c *Cloud) Probe(ctx context.Context, serverID string) error {
	if c == nil || c.api == nil {
		return errors.New("cloud check: no cloud API configured")
	}
	srv, err := c.api.GetServer(ctx, serverID)
	if err != nil {
		return fmt.Errorf("cloud check of server %s: %w", serverID, err)
	}
	if srv.Status != "ACTIVE" {
		msg := fmt.Sprintf("cloud check of server %s: Nova status %s, want ACTIVE", serverID, srv.Status)
		if srv.Fault != "" {
			msg += ": " + srv.Fault
		}
		return errors.New(msg)
	}
	ports, err := c.api.PortsOfServer(ctx, serverID)
	if err != nil {
		return fmt.Errorf("cloud check of server %s: %w", serverID, err)
	}
	if len(ports) == 0 {
		return fmt.Errorf("cloud check of server %s: no Neutron port (want at least one, ACTIVE)", serverID)
	}
	for _, p := range ports {
		if p.Status != "ACTIVE" {
			return fmt.Errorf("cloud check of server %s: Neutron port %s status %s, want ACTIVE", serverID, p.ID, p.Status)
		}
	}
	c.mu.Lock()
	done := c.finished[serverID]
	c.mu.Unlock()
	if done {
		return nil
	}
	log, err := c.api.ConsoleLog(ctx, serverID, consoleLines)
	if err != nil {
		why, ok := consoleUnreadable(err)
		c.mu.Lock()
		wasReadable := c.readable[serverID]
		if ok && !wasReadable {
			c.unreadable[serverID] = why
		}
		c.mu.Unlock()
		if ok && !wasReadable {
			return nil
		}
		// A console read before and refused now (a transient 409) is not skipped: the
		// boot it would confirm is still unconfirmed.
		return fmt.Errorf("cloud check of server %s: %w", serverID, err)
	}
	c.mu.Lock()
	c.readable[serverID] = true
	delete(c.unreadable, serverID)
	c.mu.Unlock()
	if !bootFinished.MatchString(log) {
		return fmt.Errorf("cloud check of server %s: ACTIVE, ports ACTIVE, but the console log does not show the boot finished yet (no %q line)", serverID, "Cloud-init v. … finished at …")
	}
	c.mu.Lock()
	c.finished[serverID] = true
	c.mu.Unlock()
	return nil
}

// Note implements Noter: why the boot was not confirmed on the console, or "".
func (c *Cloud) Note(serverID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if why := c.unreadable[serverID]; why != "" {
		return "console log not readable (" + why + "): boot finished not confirmed, only Nova ACTIVE and Neutron ports ACTIVE"
	}
	return ""
}

func (c *Cloud) String() string {
	return "cloud: Nova ACTIVE, Neutron ports ACTIVE, boot finished on the console (where readable)"
}

// consoleUnreadable reports errors saying the cloud does not give this console log at
// all (as opposed to a failure worth retrying), with a short reason.
func consoleUnreadable(err error) (string, bool) {
	var apiErr *openstack.APIError
	if !errors.As(err, &apiErr) {
		return "", false
	}
	switch apiErr.Status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusNotImplemented:
		why := fmt.Sprintf("HTTP %d", apiErr.Status)
		if m := strings.TrimSpace(apiErr.Message); m != "" {
			why += ": " + m
		}
		return why, true
	}
	return "", false
}
