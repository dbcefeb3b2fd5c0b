package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/internal/openstack"
)

// Cloud is what Access asks the cloud: a server's console log (for its host keys) and
// which server is behind an address. *openstack.Client satisfies it.
type Cloud interface {
	ConsoleLog(ctx context.Context, serverID string, lines int) (string, error)
	ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error)
	FindFloatingIP(ctx context.Context, address string) (openstack.FloatingIP, error)
}

// Access is how remint logs in to servers: one user and private key, and one way to trust
// host keys (see the package doc). It is the only way the rest of remint dials a server.
// Use it by pointer; it is safe for concurrent use and caches console host keys per server
// id for its lifetime.
type Access struct {
	// Cloud reads console logs and resolves addresses; needed unless KnownHosts or
	// InsecureIgnoreHostKey is set.
	Cloud  Cloud
	User   string
	Signer ssh.Signer
	// KnownHosts, when set, is the known_hosts file host keys are verified against instead
	// of the console log.
	KnownHosts string
	// InsecureIgnoreHostKey turns host key verification off (an operator's explicit
	// --insecure-ignore-host-key); every dial logs a warning.
	InsecureIgnoreHostKey bool
	// Servers narrows the servers an address is looked for among (e.g. a group's name
	// prefix); the zero value searches all servers of the project.
	Servers openstack.ListServersOpts
	// Port is the SSH port; default 22.
	Port int
	// Timeout bounds each TCP connect and SSH handshake; default 15s.
	Timeout time.Duration
	// ConsoleWait is how long DialServer and DialAddress wait for host keys to appear on
	// the console of a server that has just booted; default 2m. The console of a server
	// created longer ago (10m, or ConsoleWait if longer) is read once: keys missing there
	// will not appear. WaitForSSH waits as long as it is asked to.
	ConsoleWait time.Duration
	Logger      *slog.Logger

	warnInsecure sync.Once
	mu           sync.Mutex
	keys         map[string]Fingerprints     // server id → its console host keys
	fixed        map[string]openstack.Server // fixed address → the server last found on it
}

// DialServer connects to the server's fixed address (AccessIP) and verifies its host key
// against the keys it printed to its console (or per KnownHosts / InsecureIgnoreHostKey).
func (a *Access) DialServer(ctx context.Context, srv openstack.Server) (*Client, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if srv.AccessIP == "" {
		return nil, fmt.Errorf("ssh to server %s (%s): it has no fixed address to connect to", srv.Name, srv.ID)
	}
	policy, err := a.serverPolicy(ctx, srv, a.consoleWait(srv))
	if err != nil {
		return nil, err
	}
	return a.dial(ctx, srv.AccessIP, policy)
}

// DialAddress connects to addr (an IP address, optionally with a port) and verifies the
// host key of the server behind it. A floating address is looked up in the cloud on every
// call, so after it moves only the new server's key passes; a fixed address is looked up
// again when the key offered does not match the server last found on it.
func (a *Access) DialAddress(ctx context.Context, addr string) (*Client, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	host, port := addr, ""
	if h, p, err := net.SplitHostPort(addr); err == nil {
		host, port = h, p
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("ssh to %s: not an IP address", addr)
	}
	target := host
	if port != "" {
		target = net.JoinHostPort(host, port)
	}
	if p := a.fixedPolicy(); p != nil {
		return a.dial(ctx, target, p)
	}
	srv, cached, err := a.serverAt(ctx, host, true)
	if err != nil {
		return nil, err
	}
	policy, err := a.serverPolicy(ctx, srv, a.consoleWait(srv))
	if err != nil {
		return nil, err
	}
	c, err := a.dial(ctx, target, policy)
	var mismatch *HostKeyMismatchError
	if !cached || !errors.As(err, &mismatch) {
		return c, err
	}
	// The server remembered on this fixed address may have been replaced by another
	// that got the same address: ask the cloud again. A second mismatch is final.
	a.log().Info("host key of a fixed address changed: looking up which server has it now", "addr", host, "was", srv.ID)
	if srv, _, err = a.serverAt(ctx, host, false); err != nil {
		return nil, err
	}
	if policy, err = a.serverPolicy(ctx, srv, a.consoleWait(srv)); err != nil {
		return nil, err
	}
	return a.dial(ctx, target, policy)
}

// check reports a configuration that cannot dial.
func (a *Access) check() error {
	switch {
	case a.Signer == nil:
		return errors.New("ssh: no private key")
	case a.User == "":
		return errors.New("ssh: no user to log in as")
	case a.KnownHosts != "" && a.InsecureIgnoreHostKey:
		return errors.New("ssh: a known_hosts file and no host key verification at once: choose one")
	case a.fixedPolicy() == nil && a.Cloud == nil:
		return errors.New("ssh: no way to verify host keys: no cloud to read console logs from and no known_hosts file")
	}
	return nil
}

// fixedPolicy is the policy that does not depend on the server: known_hosts or the
// insecure opt-out; nil when host keys come from consoles.
func (a *Access) fixedPolicy() HostKeyPolicy {
	switch {
	case a.InsecureIgnoreHostKey:
		return InsecureIgnoreHostKey{}
	case a.KnownHosts != "":
		return KnownHostsFile(a.KnownHosts)
	}
	return nil
}

// serverPolicy is the host key policy for srv.
func (a *Access) serverPolicy(ctx context.Context, srv openstack.Server, wait time.Duration) (HostKeyPolicy, error) {
	if p := a.fixedPolicy(); p != nil {
		return p, nil
	}
	fps, err := a.ConsoleHostKeys(ctx, srv, wait)
	if err != nil {
		return nil, err
	}
	return fps, nil
}

func (a *Access) dial(ctx context.Context, addr string, policy HostKeyPolicy) (*Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port := a.Port
		if port == 0 {
			port = 22
		}
		addr = net.JoinHostPort(addr, strconv.Itoa(port))
	}
	if _, insecure := policy.(InsecureIgnoreHostKey); insecure {
		a.warnInsecure.Do(func() {
			a.log().Warn("SSH host key verification is DISABLED on request (--insecure-ignore-host-key): anyone at the address can impersonate the server",
				"addr", addr)
		})
	}
	return Dial(ctx, Config{Addr: addr, User: a.User, Signer: a.Signer, HostKey: policy, Timeout: a.Timeout, Logger: a.Logger, insecureWarned: true})
}

// consoleWait is how long to wait for srv's console to show its host keys.
func (a *Access) consoleWait(srv openstack.Server) time.Duration {
	wait := a.ConsoleWait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	if !srv.Created.IsZero() && time.Since(srv.Created) > max(10*time.Minute, wait) {
		return 0
	}
	return wait
}

func (a *Access) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
