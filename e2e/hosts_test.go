package e2e

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/loadgen"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRealHosts is issue 4's first scenario list, through the real binary and the OpenStack
// API: boot two servers from the base image; SSH in with the generated key, host keys
// verified from the console log, a mismatching key refused; apt update and a security-only
// upgrade from the local repository; reboot one and see reboot-required cleared; move a
// floating IP between them under load with no failed request; snapshot a server and boot a
// third from the snapshot.
func TestRealHosts(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c := startCloud(t)

	a := c.boot(t, ctx, "e2e-a", c.imageID)
	b := c.boot(t, ctx, "e2e-b", c.imageID)
	keysA, keysB := c.hostKeys(t, ctx, a), c.hostKeys(t, ctx, b)

	t.Run("ssh with host keys from the console log", func(t *testing.T) {
		conn, err := c.ssh(ctx, a.AccessIP, keysA)
		require.NoError(t, err)
		defer conn.Close()
		assert.Equal(t, "e2e-a\n", run(t, ctx, conn, "hostname"))
		assert.Equal(t, "root\n", run(t, ctx, conn, "sudo", "-n", "id", "-un"))

		_, err = c.ssh(ctx, a.AccessIP, keysB)
		var mismatch *remote.HostKeyMismatchError
		require.ErrorAs(t, err, &mismatch, "a's host key must not pass for b's")
	})

	t.Run("remint ssh verifies the console host key and passes the exit status through", func(t *testing.T) {
		key := filepath.Join(c.dir, "remint-sim-key")
		ssh := func(args ...string) (string, int) {
			cmd := exec.CommandContext(ctx, c.bin, append([]string{"ssh", "-i", key}, args...)...)
			cmd.Dir = c.dir // no remint.yaml there: OS_CLOUD names the cloud
			cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML, "OS_CLOUD=remint-sim")
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return stdout.String() + stderr.String(), ee.ExitCode()
			}
			require.NoError(t, err, "remint ssh %v:\n%s%s", args, stdout.String(), stderr.String())
			return stdout.String(), 0 // the remote command's output alone; logs go to stderr
		}
		out, code := ssh("e2e-a", "--", "hostname")
		assert.Equal(t, 0, code, out)
		assert.Equal(t, "e2e-a\n", out)
		out, code = ssh("e2e-b", "--", "sh", "-c", "exit 7")
		assert.Equal(t, 7, code, "the remote command's exit status: %s", out)

		// A known_hosts file that holds b's key for a's address: a man in the middle.
		var line strings.Builder
		for _, k := range bKeys(t, ctx, c, b) {
			line.WriteString(a.AccessIP + " " + k + "\n")
		}
		kh := filepath.Join(c.dir, "known_hosts")
		require.NoError(t, os.WriteFile(kh, []byte(line.String()), 0o600))
		out, code = ssh("--known-hosts", kh, "e2e-a", "--", "hostname")
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "host key verification failed")
		assert.NotContains(t, out, "e2e-a\n")
	})

	t.Run("security upgrade from the local repository, then reboot", func(t *testing.T) {
		out := c.remint(t, ctx, "sim", "publish-package", "--repo-dir", filepath.Join(c.stateDir, "apt"), "--demo")
		t.Logf("remint sim publish-package --demo:\n%s", out)
		conn, err := c.ssh(ctx, a.AccessIP, keysA)
		require.NoError(t, err)
		update := run(t, ctx, conn, "sudo", "-n", "apt-get", "update")
		assert.Contains(t, update, "bookworm-security InRelease")
		assert.NotContains(t, update, "debian.org", "servers use the local repository only")
		run(t, ctx, conn, "sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
			"demo-libssl=1.0-1", "demo-tool=1.0-1")
		res, err := conn.Run(ctx, []string{"sudo", "-n", "unattended-upgrade", "-v"})
		require.NoError(t, err)
		require.NoError(t, res.Err(), "unattended-upgrade:\n%s", res.Stdout)
		assert.Equal(t, "demo-libssl 1.0-1+deb12u1\ndemo-tool 1.0-1\n",
			run(t, ctx, conn, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", "demo-libssl", "demo-tool"),
			"the security suite is upgraded, bookworm-updates is left alone")
		assert.Contains(t, run(t, ctx, conn, "cat", "/var/run/reboot-required.pkgs"), "demo-libssl")
		run(t, ctx, conn, "sudo", "-n", "sh", "-c", "echo kept > /var/tmp/e2e-marker")
		conn.Close()

		require.NoError(t, c.os.RebootServer(ctx, a.ID, false))
		_, err = c.os.WaitServerActive(ctx, a.ID)
		require.NoError(t, err)
		var after *remote.Client
		require.Eventually(t, func() bool {
			after, err = c.ssh(ctx, a.AccessIP, keysA)
			return err == nil
		}, 2*time.Minute, time.Second, "ssh to e2e-a after the reboot: %v", err)
		defer after.Close()
		res, err = after.Run(ctx, []string{"test", "-e", "/var/run/reboot-required"})
		require.NoError(t, err)
		assert.Equal(t, 1, res.ExitStatus, "a reboot clears /var/run/reboot-required")
		assert.Equal(t, "kept\n", run(t, ctx, after, "cat", "/var/tmp/e2e-marker"), "the disk survives a reboot")
	})

	t.Run("floating IP moves under load without a failed request", func(t *testing.T) {
		fip, err := c.os.AllocateFloatingIP(ctx, "public", "e2e")
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.os.ReleaseFloatingIP(context.Background(), fip.ID) })
		portA, portB := onlyPort(t, ctx, c.os, a.ID), onlyPort(t, ctx, c.os, b.ID)
		fip, err = c.os.AssociateFloatingIP(ctx, fip.ID, portA, fip.RevisionNumber)
		require.NoError(t, err)
		addr, err := netip.ParseAddr(fip.Address)
		require.NoError(t, err)
		url := "http://" + netip.AddrPortFrom(addr, 8080).String() + "/"
		require.Eventually(t, func() bool { return whoAnswers(t, url) == a.ID }, 30*time.Second, 100*time.Millisecond)

		// A new connection for every request, so each one shows where the address routes.
		load := loadgen.Start(loadgen.Config{URLs: []string{url}, Duration: time.Minute, Concurrency: 4, Timeout: 10 * time.Second})
		time.Sleep(2 * time.Second)
		_, err = c.os.AssociateFloatingIP(ctx, fip.ID, portB, fip.RevisionNumber)
		movedAt := time.Now()
		time.Sleep(2 * time.Second)
		rep := load.Stop()
		require.NoError(t, err, "move the floating IP to e2e-b")
		t.Logf("%d requests through %s, %d failed", rep.Total, fip.Address, rep.Failed)
		assert.Zero(t, rep.Failed, "%v", rep.FirstErrors(3))
		for _, s := range rep.URLs[0].Servers {
			if s.ServerID == a.ID {
				assert.True(t, s.Last.Before(movedAt), "a request sent after the move reached the old server")
			}
		}
		assert.Equal(t, b.ID, whoAnswers(t, url))

		conn, err := c.ssh(ctx, fip.Address, keysB)
		require.NoError(t, err, "ssh through the floating IP reaches e2e-b")
		defer conn.Close()
		assert.Equal(t, "e2e-b\n", run(t, ctx, conn, "hostname"))

		// remint ssh to the floating address asks the cloud which server it is on now and
		// trusts only that server's console keys.
		cmd := exec.CommandContext(ctx, c.bin, "ssh", "-i", filepath.Join(c.dir, "remint-sim-key"), fip.Address, "--", "hostname")
		cmd.Dir = c.dir
		cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML, "OS_CLOUD=remint-sim")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "remint ssh %s:\n%s", fip.Address, stderr.String())
		assert.Equal(t, "e2e-b\n", stdout.String())
	})

	t.Run("snapshot boots a third server", func(t *testing.T) {
		imageID, err := c.os.CreateServerImage(ctx, a.ID, "e2e-snapshot", nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.os.DeleteImage(context.Background(), imageID) })
		img, err := c.os.WaitImageActive(ctx, imageID)
		require.NoError(t, err)
		assert.Equal(t, "active", img.Status)
		s3 := c.boot(t, ctx, "e2e-c", imageID)
		conn, err := c.ssh(ctx, s3.AccessIP, c.hostKeys(t, ctx, s3))
		require.NoError(t, err)
		defer conn.Close()
		assert.Equal(t, "kept\n", run(t, ctx, conn, "cat", "/var/tmp/e2e-marker"), "the snapshot holds e2e-a's disk")
		assert.Equal(t, "demo-libssl 1.0-1+deb12u1\n", run(t, ctx, conn, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", "demo-libssl"))
		assert.Equal(t, s3.ID, whoAnswers(t, "http://"+s3.AccessIP+":8080/"))
	})
}

// onlyPort returns the id of the server's single port.
func onlyPort(t *testing.T, ctx context.Context, os *openstack.Client, serverID string) string {
	t.Helper()
	ports, err := os.PortsOfServer(ctx, serverID)
	require.NoError(t, err)
	require.Len(t, ports, 1)
	return ports[0].ID
}

// bKeys returns the authorized_keys-form host keys server srv printed to its console.
func bKeys(t *testing.T, ctx context.Context, c *cloud, srv openstack.Server) []string {
	t.Helper()
	console, err := c.os.ConsoleLog(ctx, srv.ID, 0)
	require.NoError(t, err)
	var keys []string
	in := false
	for _, l := range strings.Split(console, "\n") {
		switch {
		case strings.Contains(l, "-----BEGIN SSH HOST KEY KEYS-----"):
			in = true
		case strings.Contains(l, "-----END SSH HOST KEY KEYS-----"):
			in = false
		case in && strings.TrimSpace(l) != "":
			f := strings.Fields(l)
			require.GreaterOrEqual(t, len(f), 2, "host key line %q", l)
			keys = append(keys, f[0]+" "+f[1])
		}
	}
	require.NotEmpty(t, keys, "no host keys in the console of %s", srv.Name)
	return keys
}
