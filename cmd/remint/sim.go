package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/atomicfile"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/spf13/cobra"
)

func init() { register(newSimCmd) }

// simDriverFactory builds a simulator driver; each driver's file registers one.
type simDriverFactory func(ctx context.Context, o simOptions) (sim.Driver, error)

var simDrivers = map[string]simDriverFactory{
	"none": func(context.Context, simOptions) (sim.Driver, error) { return sim.NopDriver(), nil },
}

// simSubcommands are attached under `remint sim` (build-base, publish-package…).
var simSubcommands []func() *cobra.Command

type simOptions struct {
	listen     string
	cloudsYAML string
	cloudName  string
	seed       bool
	driver     string
	faults     []string
	bootTime   time.Duration
	imageSave  time.Duration
	password   string
	stateDir   string
	randSeed   uint64
}

func newSimCmd() *cobra.Command {
	var o simOptions
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the OpenStack-API-compatible simulator",
		Long: `Run an OpenStack-API-compatible cloud on loopback: Keystone v3, Nova v2.1, Glance v2 and
Neutron v2.0 with real JSON shapes, status codes, asynchronous state changes and fault
injection. Any OpenStack client can use it through the clouds.yaml it writes.

Servers are real: with --driver loopback (the default) each server gets its own 127.x.y.z
address and serves its image's workload on port 8080, and a floating IP is a real listener
that forwards to the server it is associated with. With --driver docker each server is a
container with sshd and apt, booted from a locally built Debian image.

--seed creates the debian-12 base image, flavors m1.tiny/m1.small/m1.medium, a private
network, an external network "public" with a floating-IP pool, and the keypair "remint"
(its private key is written beside the clouds.yaml as remint-sim-key).

Faults are injected per operation with --fault PATTERN:key=value,...; PATTERN is an operation
("compute.server.create"), a service wildcard ("network.*") or "*". Keys: latency (duration),
error (probability of a 5xx), status (the error's code), ratelimit (probability of a 429),
retry-after (duration), conflict (probability of a 409), times (only the next N calls).
The pseudo-operation compute.server.boot with error=P makes servers go to ERROR, and
compute.server.snapshot with error=P kills snapshot images (status killed).`,
		Example: `  # Start a seeded cloud and point the openstack CLI at it
  remint sim --seed --listen 127.0.0.1:5000 --write-clouds-yaml ./clouds.yaml &
  export OS_CLIENT_CONFIG_FILE=$PWD/clouds.yaml OS_CLOUD=remint-sim
  openstack server list

  # Slow, flaky compute API and one boot in ten failing
  remint sim --seed --write-clouds-yaml ./clouds.yaml \
    --fault 'compute.*:latency=50ms,error=0.05,status=503' --fault compute.server.boot:error=0.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the API listener (port 0 picks a free one)")
	f.StringVar(&o.cloudsYAML, "write-clouds-yaml", "", "write a clouds.yaml for this cloud to PATH once it is ready")
	f.StringVar(&o.cloudName, "cloud-name", sim.DefaultCloudName, "name of the cloud in the written clouds.yaml")
	f.BoolVar(&o.seed, "seed", false, "create the base image, flavors, networks, floating-IP pool and keypair")
	f.StringVar(&o.driver, "driver", "loopback", "how servers run: "+strings.Join(simDriverNames(), ", "))
	f.StringArrayVar(&o.faults, "fault", nil, "inject faults: PATTERN:key=value,... (repeatable; see above)")
	f.DurationVar(&o.bootTime, "boot-time", 300*time.Millisecond, "time a server spends in BUILD before its driver boots it")
	f.DurationVar(&o.imageSave, "image-save-time", 200*time.Millisecond, "time a snapshot spends in each of queued and saving")
	f.StringVar(&o.password, "password", "", "password of the admin user (default: random, written to the clouds.yaml)")
	f.StringVar(&o.stateDir, "state-dir", "", "directory for driver state (docker driver: apt repository, caches); default a temp dir")
	f.Uint64Var(&o.randSeed, "rand-seed", 0, "seed of the fault-injection random source (0: from the clock)")
	for _, sub := range simSubcommands {
		cmd.AddCommand(sub())
	}
	return cmd
}

func simDriverNames() []string {
	names := make([]string, 0, len(simDrivers))
	for n := range simDrivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func runSim(cmd *cobra.Command, o simOptions) error {
	ctx := cmd.Context()
	log, err := newLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	factory, ok := simDrivers[o.driver]
	if !ok {
		return usageErrorf("--driver %q: want one of %s", o.driver, strings.Join(simDriverNames(), ", "))
	}
	type rule struct {
		pattern string
		r       sim.FaultRule
	}
	var rules []rule
	for _, spec := range o.faults {
		p, r, err := sim.ParseFaultSpec(spec)
		if err != nil {
			return usageErrorf("--fault: %v", err)
		}
		rules = append(rules, rule{p, r})
	}
	if o.stateDir == "" {
		dir, err := os.MkdirTemp("", "remint-sim-")
		if err != nil {
			return fmt.Errorf("create simulator state dir: %w", err)
		}
		defer os.RemoveAll(dir)
		o.stateDir = dir
	}
	driver, err := factory(ctx, o)
	if err != nil {
		return fmt.Errorf("start the %s driver: %w", o.driver, err)
	}
	s := sim.New(sim.Config{
		Listen: o.listen, Driver: driver, BootTime: o.bootTime, ImageSaveTime: o.imageSave,
		Password: o.password, RandSeed: o.randSeed, Logger: log,
	})
	for _, r := range rules {
		s.Faults().Set(r.pattern, r.r)
	}
	if err := s.Start(); err != nil {
		_ = driver.Close()
		return err
	}
	defer func() {
		if err := s.Close(); err != nil {
			log.Error("simulator shutdown", "err", err)
		}
	}()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "remint sim: OpenStack API on %s (driver %s)\n", s.BaseURL(), driver.Name())
	if o.seed {
		res, err := s.Seed(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "seeded: image %s (%s), networks %s and %s (floating-IP pool), keypair %s, flavors m1.tiny m1.small m1.medium\n",
			sim.SeedImageName, res.ImageID, sim.SeedPrivateNetwork, sim.SeedPublicNetwork, sim.SeedKeypairName)
		if o.cloudsYAML != "" {
			keyPath := filepath.Join(filepath.Dir(o.cloudsYAML), "remint-sim-key")
			if err := atomicfile.Write(keyPath, res.KeypairPrivateKey, 0o600); err != nil {
				return fmt.Errorf("write the seed keypair's private key: %w", err)
			}
			fmt.Fprintf(out, "keypair %s private key: %s\n", sim.SeedKeypairName, keyPath)
		}
	}
	if o.cloudsYAML != "" {
		// Written last and atomically: its appearance tells scripts the cloud is ready.
		if err := atomicfile.Write(o.cloudsYAML, s.CloudsYAML(o.cloudName), 0o600); err != nil {
			return fmt.Errorf("write clouds.yaml: %w", err)
		}
		abs, _ := filepath.Abs(o.cloudsYAML)
		fmt.Fprintf(out, "clouds.yaml: %s\n  export OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=%s\n", abs, abs, o.cloudName)
	}
	fmt.Fprintln(out, "ready; Ctrl-C or SIGTERM stops it and deletes every server")
	<-ctx.Done()
	fmt.Fprintln(out, "remint sim: stopping")
	return nil
}
