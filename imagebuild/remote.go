package imagebuild

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/remint-dev/remint/internal/remote"
)

// sudo prefixes argv to run as root without a password prompt.
func sudo(argv ...string) []string { return append([]string{"sudo", "-n"}, argv...) }

// aptGet runs apt non-interactively, keeping changed configuration files' local versions.
func aptGet(args ...string) []string {
	return sudo(append([]string{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}, args...)...)
}

// run runs argv on c within the command timeout, copying its output to the current
// step's output (and Options.Output); a non-zero exit is an error with the output's end.
// provisioning says the command's time counts as provisioning (for the overhead figure).
func (b *build) run(ctx context.Context, c *remote.Client, provisioning bool, argv ...string) (remote.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.CommandTimeout)
	defer cancel()
	b.mu.Lock()
	out := io.Writer(b.output)
	b.mu.Unlock()
	if b.opts.Output != nil {
		out = io.MultiWriter(out, b.opts.Output)
	}
	shown := strings.Join(argv, " ")
	if len(shown) > 200 {
		shown = shown[:200] + "…"
	}
	fmt.Fprintf(out, "$ %s\n", shown)
	res, err := c.Stream(ctx, argv, out, out)
	if provisioning {
		b.mu.Lock()
		b.res.ProvisionTime += res.Duration
		b.mu.Unlock()
	}
	if err != nil {
		return res, err
	}
	return res, res.Err()
}

// runner adapts a connection to debian.Runner, keeping the output and timing like run.
type runner struct {
	b     *build
	c     *remote.Client
	probe bool // not provisioning: a probe's look at the active version
}

func (r runner) Run(ctx context.Context, argv []string) (remote.Result, error) {
	res, err := r.b.run(ctx, r.c, !r.probe, argv...)
	if _, exit := err.(*remote.ExitError); exit {
		return res, nil // debian.Runner: a non-zero exit is in the result
	}
	return res, err
}
