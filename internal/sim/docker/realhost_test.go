package docker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/remint-dev/remint/internal/loadgen"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/aptrepo"
	"github.com/remint-dev/remint/internal/sim/baseimage"
	"github.com/remint-dev/remint/internal/sim/workload"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// requireRealHosts skips unless REMINT_E2E is set (make e2e sets it) and then fails, never
// skips, when Docker, debootstrap or root is missing.
func requireRealHosts(t *testing.T) *client.Client {
	t.Helper()
	if os.Getenv("REMINT_E2E") == "" {
		t.Skip("real-host test: set REMINT_E2E=1 (make e2e) to run it against Docker")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err, "Docker client")
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("real-host tests need a running Docker Engine (apt-get install -y docker.io; systemctl start docker): %v", err)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatalf("real-host tests need debootstrap to build the base image: apt-get install -y debootstrap")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("real-host tests need root (debootstrap, and the containers' fixed IPs on the Docker bridge)")
	}
	return cli
}

var (
	workloadOnce sync.Once
	workloadBin  string
	workloadErr  error
)

// workloadBinary is REMINT_WORKLOAD_BINARY (make e2e builds it) or a CGO_ENABLED=0 build of
// ./cmd/remint made once per test run.
func workloadBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("REMINT_WORKLOAD_BINARY"); p != "" {
		return p
	}
	workloadOnce.Do(func() {
		dir, err := os.MkdirTemp("", "remint-workload-")
		if err != nil {
			workloadErr = err
			return
		}
		workloadBin = filepath.Join(dir, "remint")
		cmd := exec.Command("go", "build", "-o", workloadBin, "github.com/remint-dev/remint/cmd/remint")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			workloadErr = fmt.Errorf("build static remint for the workload: %w\n%s", err, out)
		}
	})
	require.NoError(t, workloadErr)
	return workloadBin
}

func randomID(t *testing.T) string {
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

func serverID(t *testing.T) string {
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// host is a booted server as the test sees it.
type host struct {
	id, name string
	ip       netip.Addr
}

func (h host) url() string { return "http://" + netip.AddrPortFrom(h.ip, 8080).String() + "/" }

// TestRealHosts drives the docker driver through the scenarios of issue 4: two servers from
// the base image, SSH with host keys verified from the console log, apt against the local
// signed repository with a security suite, a reboot clearing reboot-required, a snapshot
// booting a third server, and a floating IP moved under load without a failed request.
func TestRealHosts(t *testing.T) {
	engine := requireRealHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Checked after the driver's Close (cleanups run last-registered first).
	var snapshots []string
	t.Cleanup(func() {
		for _, snap := range snapshots {
			_, err := engine.ImageInspect(context.Background(), snap)
			assert.True(t, isNotFound(err), "the driver's Close removes its snapshot %s: %v", snap, err)
		}
	})
	d, err := New(ctx, Options{
		Instance:  "test-" + randomID(t),
		Engine:    engine,
		BaseImage: baseimage.Options{WorkloadBinary: workloadBinary(t)},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	private, public := d.AddressPlan()
	require.True(t, private.Contains(d.Gateway()), "gateway %s in %s", d.Gateway(), private)
	require.True(t, public.Addr().IsLoopback())

	// The local apt repository listens on the bridge gateway, where servers reach it.
	repo, err := aptrepo.Open(t.TempDir(), aptrepo.Options{KeyBits: 2048})
	require.NoError(t, err)
	_, err = repo.PublishDemo(ctx)
	require.NoError(t, err)
	srv, err := repo.Serve(ctx, netip.AddrPortFrom(d.Gateway(), 0).String())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	key, err := repo.PublicKeyArmored()
	require.NoError(t, err)
	d.SetAptRepo(srv.URL(), key)

	start := time.Now()
	ref, err := d.SeedImage(ctx)
	require.NoError(t, err)
	t.Logf("base image %s ready after %s", ref, time.Since(start).Round(time.Second))

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))

	boot := func(t *testing.T, name, imageRef, imageID string, n int) host {
		t.Helper()
		h := host{id: serverID(t), name: name, ip: private.Addr().Next().Next()}
		for range n {
			h.ip = h.ip.Next()
		}
		start := time.Now()
		err := d.Boot(ctx, sim.BootSpec{
			ServerID: h.id, Name: name, ImageID: imageID, ImageName: "debian-12", ImageRef: imageRef,
			ImageProps: map[string]string{workload.KeyVersion: "2026.11.1"},
			FixedIP:    h.ip.String(), KeyName: "remint", PublicKey: authorized,
			UserData: []byte("#!/bin/sh\necho user-data-ran > /var/tmp/user-data-marker\n"),
		})
		require.NoError(t, err, "boot %s", name)
		t.Logf("booted %s (%s) on %s in %s", name, h.id, h.ip, time.Since(start).Round(time.Millisecond))
		return h
	}
	dial := func(t *testing.T, h host, addr string) (*remote.Client, error) {
		t.Helper()
		console, err := d.ConsoleLog(ctx, h.id)
		require.NoError(t, err)
		fps, err := remote.HostKeysFromConsole(console)
		require.NoError(t, err, "host keys in the console log of %s:\n%s", h.name, console)
		return remote.Dial(ctx, remote.Config{Addr: addr, User: baseimage.DefaultUser, Signer: signer, HostKey: fps, Timeout: 10 * time.Second})
	}
	run := func(t *testing.T, c *remote.Client, argv ...string) string {
		t.Helper()
		res, err := c.Run(ctx, argv)
		require.NoError(t, err)
		require.NoError(t, res.Err())
		return res.Stdout
	}

	a := boot(t, "web-a", ref, "base", 8)
	b := boot(t, "web-b", ref, "base", 9)
	priv2, why := d.Privilege()
	t.Logf("server privilege: %s %s", priv2, why)

	t.Run("workload answers as its server", func(t *testing.T) {
		for _, h := range []host{a, b} {
			info := getInfo(t, h.url())
			assert.Equal(t, h.id, info.ServerID)
			assert.Equal(t, h.name, info.Hostname)
			assert.Equal(t, "2026.11.1", info.ImageVersion)
		}
	})

	var ca *remote.Client
	t.Run("ssh with host keys from the console log", func(t *testing.T) {
		var err error
		ca, err = dial(t, a, a.ip.String())
		require.NoError(t, err)
		assert.Equal(t, "web-a\n", run(t, ca, "hostname"))
		assert.Equal(t, "root\n", run(t, ca, "sudo", "-n", "id", "-un"))
		// User data runs in the background once the server is up, as cloud-init's does.
		assert.Eventually(t, func() bool {
			res, err := ca.Run(ctx, []string{"cat", "/var/tmp/user-data-marker"})
			return err == nil && res.Stdout == "user-data-ran\n"
		}, 30*time.Second, 200*time.Millisecond, "the user data script ran")

		// b's console vouches for b's keys, not a's: connecting to a with them is refused.
		consoleB, err := d.ConsoleLog(ctx, b.id)
		require.NoError(t, err)
		fpsB, err := remote.HostKeysFromConsole(consoleB)
		require.NoError(t, err)
		_, err = remote.Dial(ctx, remote.Config{Addr: a.ip.String(), User: baseimage.DefaultUser, Signer: signer, HostKey: fpsB, Timeout: 10 * time.Second})
		var mismatch *remote.HostKeyMismatchError
		require.ErrorAs(t, err, &mismatch)
	})
	require.NotNil(t, ca, "ssh to web-a failed; later steps need it")
	t.Cleanup(func() { ca.Close() })

	t.Run("apt against the local repository, security upgrade, reboot", func(t *testing.T) {
		out := run(t, ca, "sudo", "-n", "apt-get", "update")
		assert.Contains(t, out, srv.URL()+" bookworm-security InRelease")
		assert.NotContains(t, out, "debian.org", "the base image's only apt source is the local repository")
		run(t, ca, "sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
			aptrepo.DemoLibssl+"="+aptrepo.DemoLibsslVersion, aptrepo.DemoTool+"="+aptrepo.DemoToolVersion)
		// Debian's stock unattended-upgrades configuration: security origins only.
		res, err := ca.Run(ctx, []string{"sudo", "-n", "unattended-upgrade", "-v"})
		require.NoError(t, err)
		require.NoError(t, res.Err(), "unattended-upgrade:\n%s\n%s", res.Stdout, res.Stderr)
		versions := run(t, ca, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", aptrepo.DemoLibssl, aptrepo.DemoTool)
		assert.Equal(t, aptrepo.DemoLibssl+" "+aptrepo.DemoLibsslSecureVersion+"\n"+aptrepo.DemoTool+" "+aptrepo.DemoToolVersion+"\n", versions)
		assert.Contains(t, run(t, ca, "cat", "/var/run/reboot-required.pkgs"), aptrepo.DemoLibssl)
		run(t, ca, "test", "-e", "/var/run/reboot-required")
		run(t, ca, "sudo", "-n", "sh", "-c", "echo persisted > /var/tmp/disk-marker")
		// Package scripts restart services as on a sysvinit system (openssh-server's
		// postinst does this on a security upgrade); the session in use survives.
		run(t, ca, "sudo", "-n", "invoke-rc.d", "ssh", "restart")
		c2, err := dial(t, a, a.ip.String())
		require.NoError(t, err, "ssh after sshd was restarted")
		c2.Close()
		ca.Close()

		require.NoError(t, d.Reboot(ctx, a.id, false))
		c, err := dial(t, a, a.ip.String())
		require.NoError(t, err, "ssh after reboot: the host keys survive it")
		defer c.Close()
		res, err = c.Run(ctx, []string{"test", "-e", "/var/run/reboot-required"})
		require.NoError(t, err)
		assert.Equal(t, 1, res.ExitStatus, "/var/run/reboot-required must be gone after a reboot")
		assert.Equal(t, "persisted\n", run(t, c, "cat", "/var/tmp/disk-marker"))
		assert.Equal(t, aptrepo.DemoLibssl+" "+aptrepo.DemoLibsslSecureVersion+"\n",
			run(t, c, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", aptrepo.DemoLibssl))
		console, err := d.ConsoleLog(ctx, a.id)
		require.NoError(t, err)
		assert.Equal(t, 2, strings.Count(console, "remint-init: boot finished"), "console keeps both boots:\n%s", console)
	})

	t.Run("snapshot boots a third server", func(t *testing.T) {
		snap, err := d.Snapshot(ctx, a.id, "img-"+randomID(t))
		require.NoError(t, err)
		snapshots = append(snapshots, snap)
		c3 := boot(t, "web-c", snap, "snap", 10)
		info := getInfo(t, c3.url())
		assert.Equal(t, c3.id, info.ServerID)
		cc, err := dial(t, c3, c3.ip.String())
		require.NoError(t, err)
		defer cc.Close()
		assert.Equal(t, "persisted\n", run(t, cc, "cat", "/var/tmp/disk-marker"), "the snapshot carries a's disk")
		assert.Equal(t, "web-c\n", run(t, cc, "hostname"))
		// New instance, new host keys.
		ka, err := d.ConsoleLog(ctx, a.id)
		require.NoError(t, err)
		kc, err := d.ConsoleLog(ctx, c3.id)
		require.NoError(t, err)
		fa, err := remote.HostKeysFromConsole(ka)
		require.NoError(t, err)
		fc, err := remote.HostKeysFromConsole(kc)
		require.NoError(t, err)
		for _, fp := range fc {
			assert.NotContains(t, fa, fp)
		}
		start := time.Now()
		require.NoError(t, d.Delete(ctx, c3.id))
		t.Logf("deleted web-c in %s", time.Since(start).Round(time.Millisecond))
		_, err = d.ConsoleLog(ctx, c3.id)
		require.ErrorIs(t, err, errNoServer)
		require.NoError(t, d.Delete(ctx, c3.id), "deleting twice is not an error")
	})

	t.Run("floating IP moves under load without a failed request", func(t *testing.T) {
		fip := public.Addr().Next().Next().Next().Next().Next() // .5
		require.NoError(t, d.SetFloatingIP(ctx, fip.String(), a.ip.String()))
		url := "http://" + netip.AddrPortFrom(fip, 8080).String() + "/"
		require.Equal(t, a.id, getInfo(t, url).ServerID)

		// A new connection for every request, so each one shows where the address routes.
		load := loadgen.Start(loadgen.Config{URLs: []string{url}, Duration: time.Minute, Concurrency: 4, Timeout: 5 * time.Second})
		time.Sleep(time.Second)
		require.NoError(t, d.SetFloatingIP(ctx, fip.String(), b.ip.String()))
		movedAt := time.Now()
		time.Sleep(time.Second)
		rep := load.Stop()
		t.Logf("requests through %s: %d, failed %d", fip, rep.Total, rep.Failed)
		assert.Zero(t, rep.Failed, "%v", rep.FirstErrors(3))
		assert.Greater(t, rep.Total, int64(20))
		for _, s := range rep.URLs[0].Servers {
			if s.ServerID == a.id {
				assert.True(t, s.Last.Before(movedAt), "a request sent after the move reached the old server")
			}
		}
		assert.Equal(t, b.id, getInfo(t, url).ServerID)

		// SSH through the floating IP reaches b, verified with b's keys.
		c, err := dial(t, b, fip.String())
		require.NoError(t, err)
		defer c.Close()
		assert.Equal(t, "web-b\n", run(t, c, "hostname"))

		require.NoError(t, d.ReleaseFloatingIP(ctx, fip.String()))
		_, err = (&http.Client{Timeout: 5 * time.Second}).Get(url)
		require.Error(t, err, "a released floating IP answers nothing")
	})

	t.Run("a server runs dockerd installed from the local repository", func(t *testing.T) {
		oldVersion, _, err := repo.PublishDocker(ctx, "/var/cache/remint/docker-debs")
		require.NoError(t, err)
		c, err := dial(t, b, b.ip.String())
		require.NoError(t, err)
		defer c.Close()
		run(t, c, "sudo", "-n", "apt-get", "update")
		res, err := c.Run(ctx, []string{"sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive",
			"apt-get", "install", "-y", "--no-install-recommends", aptrepo.DockerPackage + "=" + oldVersion})
		require.NoError(t, err)
		require.NoError(t, res.Err(), "install docker.io:\n%s\n%s", res.Stdout, res.Stderr)
		// The package's postinst started the engine through invoke-rc.d, as on any Debian
		// server; an upgrade's restart goes the same way.
		dockerUp := func() bool {
			res, err := c.Run(ctx, []string{"sudo", "-n", "docker", "version", "--format", "{{.Server.Version}}"})
			return err == nil && res.ExitStatus == 0 && strings.TrimSpace(res.Stdout) != ""
		}
		require.Eventually(t, dockerUp, time.Minute, time.Second, "dockerd did not come up after installing docker.io")
		run(t, c, "sudo", "-n", "invoke-rc.d", "docker", "restart")
		require.Eventually(t, dockerUp, time.Minute, time.Second, "dockerd did not come back after a restart")
		// A nested container runs: the engine inside can create namespaces and cgroups.
		out := run(t, c, "sudo", "-n", "sh", "-c",
			"tar -C /usr/local/bin -c remint-workload | docker import - inner:1 >/dev/null && "+
				"docker run --rm --network none inner:1 /remint-workload version")
		assert.Contains(t, out, "remint")
	})

	t.Run("hard reboot empties /run and brings the workload back", func(t *testing.T) {
		c, err := dial(t, b, b.ip.String())
		require.NoError(t, err)
		run(t, c, "sudo", "-n", "touch", "/run/hard-reboot-marker")
		c.Close()
		require.NoError(t, d.Reboot(ctx, b.id, true))
		c, err = dial(t, b, b.ip.String())
		require.NoError(t, err)
		defer c.Close()
		res, err := c.Run(ctx, []string{"test", "-e", "/run/hard-reboot-marker"})
		require.NoError(t, err)
		assert.Equal(t, 1, res.ExitStatus)
		assert.Equal(t, b.id, getInfo(t, b.url()).ServerID)
		// b has docker.io since the subtest before: its init script starts at boot again.
		assert.Eventually(t, func() bool {
			res, err := c.Run(ctx, []string{"sudo", "-n", "docker", "version", "--format", "{{.Server.Version}}"})
			return err == nil && res.ExitStatus == 0
		}, time.Minute, time.Second, "dockerd starts at boot from /etc/rc2.d")
	})

	t.Run("boot failures are errors", func(t *testing.T) {
		err := d.Boot(ctx, sim.BootSpec{ServerID: serverID(t), Name: "no-image", ImageRef: "remint/snapshot:does-not-exist",
			FixedIP: private.Addr().Next().Next().Next().Next().String()})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "create container")
		err = d.Boot(ctx, sim.BootSpec{ServerID: serverID(t), Name: "typo", ImageRef: ref,
			Metadata: map[string]string{workload.KeyHealth: "sickly"}})
		require.Error(t, err, "an invalid workload setting fails the boot")
	})

	t.Run("an unhealthy workload still boots", func(t *testing.T) {
		h := host{id: serverID(t), name: "sick", ip: private.Addr().Next().Next().Next().Next().Next()}
		require.NoError(t, d.Boot(ctx, sim.BootSpec{ServerID: h.id, Name: h.name, ImageID: "base", ImageRef: ref,
			FixedIP: h.ip.String(), ImageProps: map[string]string{workload.KeyHealth: "unhealthy"}}))
		resp, err := http.Get("http://" + netip.AddrPortFrom(h.ip, 8080).String() + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.NoError(t, d.Delete(ctx, h.id))
	})
}

// getInfo asks the workload at url who it is, on a new connection: an established one
// keeps going to the server it reached, wherever a floating IP points now.
func getInfo(t *testing.T, url string) workload.Info {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var info workload.Info
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	return info
}
