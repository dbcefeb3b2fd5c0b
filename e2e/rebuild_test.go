package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rebuildManifest has a group whose health check is a command run over SSH on real hosts,
// and a group whose check can never pass.
const rebuildManifest = `cloud: remint-sim
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
    key_name: remint
groups:
  app:
    count: 2
    image: {family: debian-12}
    flavor: m1.small
    network: private
    key_name: remint
    failover:
      addresses: [{allocate_from: public}]
    health:
      command: test -e /etc/debian_version
      interval: 500ms
      healthy_threshold: 2
      deadline: 2m
  broken:
    count: 1
    image: {family: debian-12}
    flavor: m1.small
    network: private
    key_name: remint
    health:
      command: test -e /nonexistent
      interval: 500ms
      healthy_threshold: 2
      deadline: 15s
`

// TestRebuildWithSSHCommandHealthCheck deploys a group on real hosts whose health check logs
// in over SSH (host keys verified from each server's console) and runs a command, through
// the real binary; the health gate checks through the floating address the same way. A group
// whose check fails is cleaned up and the rebuild exits 1.
func TestRebuildWithSSHCommandHealthCheck(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := startCloud(t)
	manifest := filepath.Join(c.dir, "remint.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(rebuildManifest), 0o600))
	key := filepath.Join(c.dir, "remint-sim-key")
	remint := func(env []string, args ...string) (string, int) {
		cmd := exec.CommandContext(ctx, c.bin, args...)
		cmd.Env = append(os.Environ(), append([]string{"OS_CLIENT_CONFIG_FILE=" + c.cloudsYAML}, env...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		require.NoError(t, err, "remint %s:\n%s", strings.Join(args, " "), out)
		return string(out), 0
	}
	withKey := []string{"REMINT_SSH_KEY=" + key}

	out, code := remint(nil, "validate", "-f", manifest)
	require.Equal(t, 0, code, out)
	out, code = remint(nil, "image", "register", "-f", manifest, "debian-12", "debian-12")
	require.Equal(t, 0, code, out)

	out, code = remint(nil, "rebuild", "-f", manifest, "app")
	assert.Equal(t, 2, code, "without a key the command check cannot log in: a usage error\n%s", out)
	assert.Contains(t, out, "set REMINT_SSH_KEY")

	out, code = remint(withKey, "rebuild", "-f", manifest, "app")
	require.Equal(t, 0, code, "rebuild with SSH command health checks:\n%s", out)
	assert.Contains(t, out, "completed")
	servers, err := c.os.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "app-"})
	require.NoError(t, err)
	assert.Len(t, servers, 2)
	fips, err := c.os.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{})
	require.NoError(t, err)
	associated := 0
	for _, f := range fips {
		if f.PortID != "" {
			associated++
		}
	}
	assert.Equal(t, 2, associated, "each slot's address points at its server")

	out, code = remint(withKey, "rebuild", "-f", manifest, "broken")
	assert.Equal(t, 1, code, "a failing health check fails the rebuild:\n%s", out)
	assert.Contains(t, out, "/nonexistent")
	require.Eventually(t, func() bool {
		s, err := c.os.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "broken-"})
		return err == nil && len(s) == 0
	}, 2*time.Minute, time.Second, "the unhealthy replacement is deleted")
}
