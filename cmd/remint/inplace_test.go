package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simtest"
)

const petManifest = `cloud: remint-sim
state: state/remint.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  db:
    count: 1
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    key_name: remint
    replaceable: false
    health:
      tcp: {port: 8080}
`

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String() + errb.String(), err
}

// TestGroupAdoptPet: a pet created beforehand with the OpenStack API is adopted (it
// records servers and rebuilds nothing), and group show lists it.
func TestGroupAdoptPet(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a server on the simulator")
	}
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	s, seed := simtest.StartSeeded(t, sim.Config{Driver: driver, BootTime: 50 * time.Millisecond})
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	require.NoError(t, os.WriteFile(clouds, s.CloudsYAML(""), 0o600))
	t.Setenv("OS_CLIENT_CONFIG_FILE", clouds)
	t.Setenv("OS_CLOUD", "")
	mf := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(petManifest), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: sim.DefaultCloudName, CloudsFile: clouds})
	require.NoError(t, err)
	db0, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "db-0", ImageID: seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, db0.ID)
	require.NoError(t, err)

	out, err := runRoot(t, "group", "adopt", "db", "-f", mf)
	require.NoError(t, err, out)
	assert.Contains(t, out, "slot db-0: adopted server db-0 ("+db0.ID+")")
	out, err = runRoot(t, "group", "show", "db", "-f", mf)
	require.NoError(t, err, out)
	assert.Contains(t, out, "db-0: db-0 "+db0.ID[:8]+" ACTIVE")
	assert.NotContains(t, out, "pending updates", "no in-place run has looked yet")

	out, err = runRoot(t, "rebuild", "db", "-f", mf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "group db is not replaceable (replaceable: false): it is patched in place, never rebuilt")
}

// TestInplaceBadInput: flags are checked before anything is contacted; each is a usage
// error (exit 2).
func TestInplaceBadInput(t *testing.T) {
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	key := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(key, []byte("not a key"), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inplace"}, "name a GROUP or give --servers"},
		{[]string{"inplace", "db", "--reboot", "sometimes"}, `reboot policy "sometimes": want never, if-required or always`},
		{[]string{"inplace", "db", "--max-errors", "150%"}, "want a count (0, 1, …) or a percentage"},
		{[]string{"inplace", "db", "--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{[]string{"inplace", "db", "-i", ""}, "--identity: no private key: give the key file, or set REMINT_SSH_KEY"},
		{[]string{"inplace", "db", "-i", key}, "--identity: private key " + key},
		{[]string{"inplace", "db", "-o", "yaml", "-i", key}, `--output "yaml"`},
	} {
		t.Setenv("REMINT_SSH_KEY", "")
		_, err := runRoot(t, tc.args...)
		require.Error(t, err, "%v", tc.args)
		var ue usageError
		assert.True(t, errors.As(err, &ue), "%v: a usage error (exit 2): %v", tc.args, err)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
	}
}

const webManifest = `cloud: remint-sim
state: state/remint.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  web:
    count: 1
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    key_name: remint
    failover:
      addresses:
        - allocate_from: public
    health:
      tcp: {port: 8080}
`

// TestInplaceRefusesWhatShouldBeRebuilt: a replaceable group with an active image and a
// failover address is rebuilt, not patched: in place needs --force, and says why.
func TestInplaceRefusesWhatShouldBeRebuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator")
	}
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	s, seed := simtest.StartSeeded(t, sim.Config{BootTime: 50 * time.Millisecond})
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	require.NoError(t, os.WriteFile(clouds, s.CloudsYAML(""), 0o600))
	t.Setenv("OS_CLIENT_CONFIG_FILE", clouds)
	t.Setenv("OS_CLOUD", "")
	mf := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(webManifest), 0o644))
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	key := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(block), 0o600))

	// No active image yet: in place is the policy's choice too (it finds no server here).
	out, err := runRoot(t, "inplace", "web", "-f", mf, "-i", key, "--dry-run")
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "group web has no servers")

	out, err = runRoot(t, "image", "register", "debian-12", seed.ImageID, "-f", mf)
	require.NoError(t, err, out)
	_, err = runRoot(t, "inplace", "web", "-f", mf, "-i", key)
	require.Error(t, err)
	var ue usageError
	assert.True(t, errors.As(err, &ue), "exit 2: %v", err)
	assert.Contains(t, err.Error(), `refusing to patch in place: the policy (rebuild first) says "rebuild: replaceable, onto debian-12 `)
	assert.Contains(t, err.Error(), "run `remint rebuild web`, or pass --force")

	_, err = runRoot(t, "inplace", "web", "-f", mf, "-i", key, "--force", "--dry-run")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "group web has no servers", "--force gets past the policy")
}
