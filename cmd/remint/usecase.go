package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/lease"
)

// started is when this process started: lease holders say so.
var started = time.Now()

// waitLockFlag adds --wait-lock to a command that changes a group.
func waitLockFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "wait-lock", 0, "wait up to this long for another command changing the group to finish (default: refuse at once)")
}

// commandLine is how a lease holder is shown: "remint rebuild web --resume". Flags
// that do not change what the command does (manifest path, output and log format) are
// left out.
func commandLine(cmd *cobra.Command, args []string) string {
	parts := append([]string{cmd.CommandPath()}, args...)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "file", "output", "log-level", "log-format", "wait-lock":
			return
		}
		if f.Value.Type() == "bool" && f.Value.String() == "true" {
			parts = append(parts, "--"+f.Name)
		} else {
			parts = append(parts, "--"+f.Name+" "+f.Value.String())
		}
	})
	return strings.Join(parts, " ")
}

// groupDeps wires the group use cases of package failover: the executor's options, the
// group's lease (held as command; waiting up to wait for it), the catalog and images.
func (g *groupEnv) groupDeps(command string, wait time.Duration, sink, progress func(failover.Event)) (failover.Deps, error) {
	opts, err := g.options(sink, progress)
	if err != nil {
		return failover.Deps{}, err
	}
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return failover.Deps{}, usageError{err}
	}
	if wait < 0 {
		return failover.Deps{}, usageErrorf("--wait-lock %s: must not be negative", wait)
	}
	return failover.Deps{
		Options: opts,
		Leases: &lease.Manager{Store: g.store, TTL: ttl, Wait: wait, Logger: g.log,
			Holder: lease.Self(command, started)},
		Catalog: catalog.New(g.cloud),
		Images:  g.cloud,
	}, nil
}

// recordDeps wires what changes only the group's records (forget, and adopt through the
// daemon): cloud, store and the group's lease (held as command, waiting up to wait), the
// catalog and images; no health checks, so no SSH key for command checks.
func (g *groupEnv) recordDeps(command string, wait time.Duration) (failover.Deps, error) {
	ttl, err := lease.TTLFromEnv()
	if err != nil {
		return failover.Deps{}, usageError{err}
	}
	if wait < 0 {
		return failover.Deps{}, usageErrorf("--wait-lock %s: must not be negative", wait)
	}
	return failover.Deps{
		Options: failover.Options{Cloud: g.cloud, Store: g.store, Spec: g.spec, Logger: g.log},
		Leases:  &lease.Manager{Store: g.store, TTL: ttl, Wait: wait, Logger: g.log, Holder: lease.Self(command, started)},
		Catalog: catalog.New(g.cloud),
		Images:  g.cloud,
	}, nil
}

// classify turns a use case's error into what the CLI reports: bad input exits 2; a
// group another command is changing exits 1 and says how to wait.
func classify(err error) error {
	var held *lease.HeldError
	var bad failover.BadRequestError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &held):
		return fmt.Errorf("%w; wait with --wait-lock 10m or retry later", err)
	case errors.As(err, &bad):
		return usageError{err}
	}
	return err
}
