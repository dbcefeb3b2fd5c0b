package loopback_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimulatorWithLoopbackDriver drives the real simulator over its OpenStack API (through
// remint's gophercloud adapter) and checks what the servers and floating IP really serve:
// boot from the seeded image and from a versioned snapshot, move the floating IP under
// load without a failed request, a bad image's /healthz, reboot, console log, delete.
func TestSimulatorWithLoopbackDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers through the simulator; skipped with -short")
	}
	t.Parallel()
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	s, seed := simtest.StartSeeded(t, sim.Config{
		Driver: driver, BootTime: 50 * time.Millisecond, ImageSaveTime: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	cloudsFile := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(cloudsFile, s.CloudsYAML(""), 0o600))
	c, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: sim.DefaultCloudName, CloudsFile: cloudsFile})
	require.NoError(t, err)

	boot := func(name, imageID string, md map[string]string) openstack.Server {
		t.Helper()
		srv, err := c.CreateServer(ctx, openstack.ServerSpec{
			Name: name, ImageID: imageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork,
			KeyName: sim.SeedKeypairName, Metadata: md,
		})
		require.NoError(t, err)
		srv, err = c.WaitServerActive(ctx, srv.ID)
		require.NoError(t, err, "server %s", name)
		require.NotEmpty(t, srv.AccessIP)
		return srv
	}
	port := strconv.Itoa(driver.Port())
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	whoami := func(ip string) map[string]string {
		t.Helper()
		resp, err := client.Get("http://" + net.JoinHostPort(ip, port) + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		var got map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		return got
	}
	healthz := func(ip string) int {
		t.Helper()
		resp, err := client.Get("http://" + net.JoinHostPort(ip, port) + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	// Old server on the seeded image.
	old := boot("web-old", seed.ImageID, nil)
	got := whoami(old.AccessIP)
	assert.Equal(t, old.ID, got["server_id"])
	assert.Equal(t, seed.ImageID, got["image_id"])
	assert.Equal(t, sim.SeedImageName, got["image_name"])
	assert.Equal(t, "", got["image_version"])

	// A new image version: snapshot the old server, stamp the version, boot from it.
	imageID, err := c.CreateServerImage(ctx, old.ID, "debian-12-remint-2026.11.1", nil)
	require.NoError(t, err)
	_, err = c.WaitImageActive(ctx, imageID)
	require.NoError(t, err)
	_, err = c.UpdateImage(ctx, imageID, openstack.ImageUpdate{SetProperties: map[string]string{"remint_version": "2026.11.1"}})
	require.NoError(t, err)
	replacement := boot("web-new", imageID, nil)
	got = whoami(replacement.AccessIP)
	assert.Equal(t, replacement.ID, got["server_id"])
	assert.Equal(t, "2026.11.1", got["image_version"])

	// The floating IP carries real traffic and moves without a failed request.
	fip, err := c.AllocateFloatingIP(ctx, sim.SeedPublicNetwork, "web")
	require.NoError(t, err)
	_, public := driver.AddressPlan()
	require.True(t, public.Contains(mustAddr(t, fip.Address)), fip.Address)
	portOf := func(serverID string) string {
		ports, err := c.PortsOfServer(ctx, serverID)
		require.NoError(t, err)
		require.Len(t, ports, 1)
		return ports[0].ID
	}
	fip, err = c.AssociateFloatingIP(ctx, fip.ID, portOf(old.ID), fip.RevisionNumber)
	require.NoError(t, err)
	assert.Equal(t, old.ID, whoami(fip.Address)["server_id"])

	fipURL := "http://" + net.JoinHostPort(fip.Address, port) + "/"
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	var sawNew atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				resp, err := client.Get(fipURL)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					continue
				}
				var body map[string]string
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					continue
				}
				if body["server_id"] == replacement.ID {
					sawNew.Store(true)
				}
			}
		})
	}
	require.Equal(t, http.StatusOK, healthz(replacement.AccessIP))
	require.Eventually(t, func() bool { return sent.Load() >= 100 }, 20*time.Second, 5*time.Millisecond)
	fip, err = c.AssociateFloatingIP(ctx, fip.ID, portOf(replacement.ID), fip.RevisionNumber)
	require.NoError(t, err)
	require.Eventually(t, sawNew.Load, 10*time.Second, 10*time.Millisecond, "traffic through the floating IP reaches the replacement")
	// Retire the old server while the load runs: its in-flight requests drain.
	require.NoError(t, c.DeleteServer(ctx, old.ID))
	require.NoError(t, c.WaitServerDeleted(ctx, old.ID))
	moved := sent.Load()
	require.Eventually(t, func() bool { return sent.Load() >= moved+100 }, 20*time.Second, 5*time.Millisecond)
	close(stop)
	wg.Wait()
	assert.Zero(t, failed.Load(), "failed requests through the floating IP (of %d); first: %v", sent.Load(), firstErr.Load())
	assert.Greater(t, sent.Load(), int64(199), "the load ran before, across and after the move")
	st, _ := driver.FloatingIPStats(fip.Address)
	t.Logf("requests through the floating IP during the move: %d, failed: %d, proxy: %+v", sent.Load(), failed.Load(), st)
	assert.Equal(t, replacement.ID, whoami(fip.Address)["server_id"])
	_, err = net.Dial("tcp", net.JoinHostPort(old.AccessIP, port))
	assert.Error(t, err, "the deleted server no longer listens")

	// A bad image: the workload runs but reports itself unhealthy.
	_, err = c.UpdateImage(ctx, imageID, openstack.ImageUpdate{SetProperties: map[string]string{"remint_workload_health": "unhealthy"}})
	require.NoError(t, err)
	bad := boot("web-bad", imageID, nil)
	assert.Equal(t, http.StatusServiceUnavailable, healthz(bad.AccessIP))
	overridden := boot("web-override", imageID, map[string]string{"remint_workload_health": "healthy"})
	assert.Equal(t, http.StatusOK, healthz(overridden.AccessIP))

	// Reboot: down briefly, then serving again; the console log tells the story.
	require.NoError(t, c.RebootServer(ctx, replacement.ID, false))
	_, err = c.WaitServerActive(ctx, replacement.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		log, err := c.ConsoleLog(ctx, replacement.ID, -1)
		return err == nil && strings.Count(log, "remint-workload listening on "+net.JoinHostPort(replacement.AccessIP, port)) == 2
	}, 10*time.Second, 20*time.Millisecond)
	log, err := c.ConsoleLog(ctx, replacement.ID, -1)
	require.NoError(t, err)
	assert.Contains(t, log, "Cloud-init v. 23.1 running 'init'")
	assert.Contains(t, log, "reboot: Restarting system")
	assert.Equal(t, replacement.ID, whoami(fip.Address)["server_id"])

	// Releasing the floating IP closes its listener.
	require.NoError(t, c.ReleaseFloatingIP(ctx, fip.ID))
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", net.JoinHostPort(fip.Address, port))
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, 5*time.Second, 20*time.Millisecond)
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	require.NoError(t, err)
	return a
}
