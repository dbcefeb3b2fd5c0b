package remote

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/crypto/ssh"
)

// HostKeysFunc returns the host-key policy for the server at host (an IP address), e.g. the
// fingerprints it printed to its console. stable says the address belongs to one server for
// good (a fixed IP), so the policy may be remembered; a floating address moves between
// servers and is looked up every time.
type HostKeysFunc func(ctx context.Context, host string) (policy HostKeyPolicy, stable bool, err error)

// Runner runs health-check commands on servers over SSH (it implements health.Runner).
// Each check dials afresh, so a check proves that a new login works; host-key policies of
// stable addresses are looked up once and remembered.
type Runner struct {
	User     string
	Signer   ssh.Signer
	HostKeys HostKeysFunc
	Logger   *slog.Logger

	mu       sync.Mutex
	policies map[string]HostKeyPolicy
}

// RunCheck runs argv on host and returns its exit status and combined output.
func (r *Runner) RunCheck(ctx context.Context, host string, argv []string) (int, string, error) {
	policy, err := r.policy(ctx, host)
	if err != nil {
		return 0, "", err
	}
	c, err := Dial(ctx, Config{Addr: host, User: r.User, Signer: r.Signer, HostKey: policy, KeepAlive: -1, Logger: r.Logger})
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	res, err := c.Run(ctx, argv)
	if err != nil {
		return 0, "", err
	}
	return res.ExitStatus, res.Stdout + res.Stderr, nil
}

func (r *Runner) policy(ctx context.Context, host string) (HostKeyPolicy, error) {
	r.mu.Lock()
	p, ok := r.policies[host]
	r.mu.Unlock()
	if ok {
		return p, nil
	}
	if r.HostKeys == nil {
		return nil, fmt.Errorf("ssh %s: no way to learn its host key", host)
	}
	p, stable, err := r.HostKeys(ctx, host)
	if err != nil || !stable {
		return p, err
	}
	r.mu.Lock()
	if r.policies == nil {
		r.policies = map[string]HostKeyPolicy{}
	}
	r.policies[host] = p
	r.mu.Unlock()
	return p, nil
}
