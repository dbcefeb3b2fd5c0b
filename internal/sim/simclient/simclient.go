// Package simclient is the one "start the simulator and connect" helper for tests above the
// OpenStack adapter (catalog, failover, cmd/remint, …): a seeded simulator, a clouds.yaml
// naming it, and remint's adapter connected to it over real HTTP, as a command connects.
// The simulator is closed when the test ends.
//
// It sits apart from simtest because it imports internal/openstack, whose own tests use
// simtest. Entry point: Start.
package simclient

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simtest"
)

// Options tune Start; the zero value is an API-only simulator with the adapter's default
// retry policy.
type Options struct {
	// Sim configures the simulator (driver, boot and image-save times, faults).
	Sim sim.Config
	// Retry is the adapter's retry and polling policy; zero fields take its defaults.
	Retry openstack.RetryPolicy
	// SetEnv points OS_CLIENT_CONFIG_FILE at the clouds.yaml and clears OS_CLOUD for the
	// test, so code that finds its cloud as the CLI does (the manifest's cloud name, the
	// environment) reaches this simulator. Tests that set it cannot run in parallel.
	SetEnv bool
}

// Cloud is a running, seeded simulator and a client connected to it.
type Cloud struct {
	Sim  *sim.Sim
	Seed *sim.SeedResult
	// CloudsFile is a clouds.yaml whose cloud sim.DefaultCloudName is this simulator.
	CloudsFile string
	Client     *openstack.Client
}

// Start starts and seeds a simulator, writes its clouds.yaml into a temporary directory
// and connects the adapter through it. Any failure stops the test.
func Start(t testing.TB, opts Options) *Cloud {
	t.Helper()
	s, seed := simtest.StartSeeded(t, opts.Sim)
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(clouds, s.CloudsYAML(sim.DefaultCloudName), 0o600); err != nil {
		t.Fatalf("write clouds.yaml for the simulator: %v", err)
	}
	if opts.SetEnv {
		t.Setenv("OS_CLIENT_CONFIG_FILE", clouds)
		t.Setenv("OS_CLOUD", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: sim.DefaultCloudName, CloudsFile: clouds, Retry: opts.Retry})
	if err != nil {
		t.Fatalf("connect to the simulator at %s: %v", s.AuthURL(), err)
	}
	return &Cloud{Sim: s, Seed: seed, CloudsFile: clouds, Client: c}
}
