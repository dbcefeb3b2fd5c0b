package remote

import (
	"context"
)

// Runner runs health-check commands on servers over SSH; it implements health.Runner.
// Each check dials afresh, so a check proves that a new login works, and the host behind
// the address is verified as Access.DialAddress does: through a floating address, only
// the server it is associated with now passes.
type Runner struct {
	access *Access
}

// Runner returns the health-check runner that logs in through a.
func (a *Access) Runner() *Runner { return &Runner{access: a} }

// RunCheck runs argv on host (an address) and returns its exit status and combined output.
func (r *Runner) RunCheck(ctx context.Context, host string, argv []string) (int, string, error) {
	c, err := r.access.DialAddress(ctx, host)
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
