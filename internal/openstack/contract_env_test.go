package openstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simtest"
	"github.com/stretchr/testify/require"
)

// The contract tests (TestContract*) run every adapter operation over real HTTP with
// real gophercloud, by default against the simulator. With REMINT_TEST_CLOUD=<name of a
// clouds.yaml entry> the same tests run against that real cloud instead:
//
//	REMINT_TEST_CLOUD=mycloud REMINT_TEST_IMAGE=<image id> REMINT_TEST_FLAVOR=<flavor> \
//	REMINT_TEST_NETWORK=<network> REMINT_TEST_EXTERNAL_NETWORK=<external network> \
//	go test ./internal/openstack/ -run Contract -v -count=1 -timeout 60m
//
// On a real cloud they create only resources named remint-contract-<random>-… and
// delete them when each test ends; the fault-injection tests need the simulator and
// are skipped there.

// contractEnv is the cloud a contract test runs against.
type contractEnv interface {
	// Client connects a new Client.
	Client(t *testing.T) *Client
	// Name prefixes every resource the test creates.
	Name(suffix string) string
	// ImageID is a bootable image; Flavor, Network and ExternalNetwork are refs (id or
	// name) to boot with and to allocate floating IPs from.
	ImageID() string
	Flavor() string
	Network() string
	ExternalNetwork() string
	// KeyName is a keypair to boot with, "" for none.
	KeyName() string
	// Sim is the simulator, nil on a real cloud.
	Sim() *sim.Sim
	// Ctx is a context bounding one test.
	Ctx(t *testing.T) context.Context
}

// newContractEnv returns the environment for one test: a fresh seeded simulator, or the
// real cloud named by REMINT_TEST_CLOUD. On the simulator the test runs in parallel.
func newContractEnv(t *testing.T) contractEnv {
	t.Helper()
	return newContractEnvWith(t, nil)
}

// newContractEnvWith is newContractEnv whose simulator runs its servers on driver (nil:
// API objects only).
func newContractEnvWith(t *testing.T, driver sim.Driver) contractEnv {
	t.Helper()
	prefix := "remint-contract-" + randomSuffix() + "-"
	if cloud := os.Getenv("REMINT_TEST_CLOUD"); cloud != "" {
		return newRealEnv(t, cloud, prefix)
	}
	t.Parallel()
	s, seed := simtest.StartSeeded(t, sim.Config{Driver: driver, BootTime: 100 * time.Millisecond, ImageSaveTime: 50 * time.Millisecond})
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(path, s.CloudsYAML("remint-sim"), 0o600))
	return &simEnv{s: s, seed: seed, clouds: path, prefix: prefix}
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// contractPolicy is fast on the simulator and patient enough for a real cloud.
var contractPolicy = RetryPolicy{Max: 30 * time.Second, Base: 50 * time.Millisecond, MaxInterval: 2 * time.Second,
	PollMin: 20 * time.Millisecond, PollMax: time.Second}

type simEnv struct {
	s      *sim.Sim
	seed   *sim.SeedResult
	clouds string
	prefix string
}

func (e *simEnv) Client(t *testing.T) *Client {
	t.Helper()
	c, err := Connect(e.Ctx(t), ConnectOptions{Cloud: "remint-sim", CloudsFile: e.clouds, Retry: contractPolicy})
	require.NoError(t, err)
	return c
}
func (e *simEnv) Name(suffix string) string { return e.prefix + suffix }
func (e *simEnv) ImageID() string           { return e.seed.ImageID }
func (e *simEnv) Flavor() string            { return "m1.tiny" }
func (e *simEnv) Network() string           { return sim.SeedPrivateNetwork }
func (e *simEnv) ExternalNetwork() string   { return sim.SeedPublicNetwork }
func (e *simEnv) KeyName() string           { return sim.SeedKeypairName }
func (e *simEnv) Sim() *sim.Sim             { return e.s }
func (e *simEnv) Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type realEnv struct {
	cloud, prefix                             string
	image, flavor, network, external, keyName string
}

func newRealEnv(t *testing.T, cloud, prefix string) *realEnv {
	t.Helper()
	e := &realEnv{cloud: cloud, prefix: prefix, keyName: os.Getenv("REMINT_TEST_KEYPAIR")}
	var missing []string
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{"REMINT_TEST_IMAGE", &e.image}, {"REMINT_TEST_FLAVOR", &e.flavor},
		{"REMINT_TEST_NETWORK", &e.network}, {"REMINT_TEST_EXTERNAL_NETWORK", &e.external},
	} {
		*v.dst = os.Getenv(v.name)
		if *v.dst == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("REMINT_TEST_CLOUD=%s needs %v: the image id, flavor, network and external network the contract tests may use", cloud, missing)
	}
	return e
}

func (e *realEnv) Client(t *testing.T) *Client {
	t.Helper()
	c, err := Connect(e.Ctx(t), ConnectOptions{Cloud: e.cloud, Retry: contractPolicy})
	require.NoError(t, err, "connect to REMINT_TEST_CLOUD=%s", e.cloud)
	return c
}
func (e *realEnv) Name(suffix string) string { return e.prefix + suffix }
func (e *realEnv) ImageID() string           { return e.image }
func (e *realEnv) Flavor() string            { return e.flavor }
func (e *realEnv) Network() string           { return e.network }
func (e *realEnv) ExternalNetwork() string   { return e.external }
func (e *realEnv) KeyName() string           { return e.keyName }
func (e *realEnv) Sim() *sim.Sim             { return nil }
func (e *realEnv) Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requireSim skips fault tests on a real cloud: faults can only be injected into the
// simulator.
func requireSim(t *testing.T, e contractEnv) *sim.Sim {
	t.Helper()
	if e.Sim() == nil {
		t.Skip("fault injection needs the simulator (REMINT_TEST_CLOUD is set)")
	}
	return e.Sim()
}

// cleanup runs f when the test ends with a fresh context (the test's own may be done)
// and reports, without failing the test twice, what could not be cleaned.
func cleanup(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := f(ctx); err != nil {
			t.Errorf("cleanup: %s: %v", what, err)
		}
	})
}

// deleteServerWhenDone deletes a server the test created and waits until it is gone.
func deleteServerWhenDone(t *testing.T, c *Client, id string) {
	cleanup(t, fmt.Sprintf("delete server %s", id), func(ctx context.Context) error {
		if err := c.DeleteServer(ctx, id); err != nil {
			return err
		}
		return c.WaitServerDeleted(ctx, id)
	})
}

// ContractEnv and NewContractEnvWith let contract tests of package openstack_test (which
// may import failover, itself built on this package) run on the same environments.
type ContractEnv = contractEnv

// NewContractEnvWith is newContractEnvWith.
func NewContractEnvWith(t *testing.T, driver sim.Driver) ContractEnv {
	return newContractEnvWith(t, driver)
}
