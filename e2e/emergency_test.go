package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/orchestrator"
)

// emergencyManifest: one family, a replaceable group behind a floating IP, a pet.
const emergencyManifest = `cloud: remint-sim
state: %s
families:
  deb:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
    retention: 3
    provision:
      packages: [demo-libssl]
groups:
  web:
    count: 1
    image: {family: deb}
    flavor: m1.small
    network: private
    failover:
      addresses: [{allocate_from: public}]
    health:
      http: {port: 8080, path: /healthz, status: 200, body: ok}
      interval: 500ms
      healthy_threshold: 2
      deadline: 2m
  db:
    count: 1
    image: {family: deb}
    flavor: m1.small
    network: private
    key_name: remint
    replaceable: false
    health:
      tcp: {port: 8080}
      interval: 500ms
      healthy_threshold: 2
    inplace:
      reboot: if-required
`

// TestEmergency is issue 9's emergency security rollout through the real binary on real
// hosts: a security update is published for a package the family's image carries; `remint
// emergency --security --all` builds an out-of-cycle image (the check on a server booted
// from the active one finds the update), rebuilds the replaceable group onto it behind
// its floating IP, upgrades the pet in place, and reports the package's transition on
// 2/2 servers; a second run right after finds nothing pending and builds nothing.
func TestEmergency(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := startCloud(t)
	dir := t.TempDir()
	repo := filepath.Join(c.stateDir, "apt")
	manifest := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(fmt.Sprintf(emergencyManifest, filepath.Join(dir, "remint.db"))), 0o644))
	key := filepath.Join(c.dir, "remint-sim-key")
	var apiToken string // the daemon's bearer token, once made; passed in the environment, never logged
	remint := func(args ...string) (string, string, int) {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, c.bin, append(args, "-f", manifest)...)
		cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML, "OS_CLOUD=remint-sim", "REMINT_LEASE_TTL=3s", "REMINT_SSH_KEY="+key,
			"REMINT_TOKEN="+apiToken)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		t.Logf("remint %s → exit %d after %s\nstdout:\n%s\nstderr (end):\n%s", strings.Join(args, " "), code, time.Since(start).Round(time.Second), stdout.String(), lastLines(stderr.String(), 10))
		return stdout.String(), stderr.String(), code
	}

	// Bad input: exit 2, nothing runs.
	_, stderr, code := remint("emergency", "--security")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "name the target groups or pass --all")
	_, stderr, code = remint("emergency", "--security", "web", "--all")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "not both")
	_, stderr, code = remint("emergency", "--security", "nosuch")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `group "nosuch" is not in the manifest`)

	// The family's first image carries demo-libssl 1.0-1; web runs it behind its floating
	// IP; the pet db-0 was booted from it by hand.
	c.remint(t, ctx, "sim", "publish-package", "--repo-dir", repo, "--suite", "bookworm", "--name", "demo-libssl", "--version", "1.0-1")
	out, _, code := remint("image", "build", "deb")
	require.Equal(t, 0, code, out)
	m := regexp.MustCompile(`deb (\d{4}\.\d{2}\.\d+) is active \(image ([0-9a-f-]+)\)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	v1, v1Image := m[1], m[2]
	out, _, code = remint("rebuild", "web")
	require.Equal(t, 0, code, out)
	pet := c.boot(t, ctx, "db-0", v1Image)
	petKeys := c.hostKeys(t, ctx, pet)
	petVersion := func() string {
		conn, err := c.ssh(ctx, pet.AccessIP, petKeys)
		require.NoError(t, err)
		defer conn.Close()
		return run(t, ctx, conn, "dpkg-query", "-W", "-f", "${Version}", "demo-libssl")
	}
	require.Equal(t, "1.0-1", petVersion())

	// The dry run plans and changes nothing.
	out, _, code = remint("emergency", "--security", "--all", "--dry-run")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "deb (active "+v1+"): then rebuild web")
	assert.Regexp(t, `(?m)^  web\s+rebuild\s+-$`, out)
	assert.Regexp(t, `(?m)^  db\s+inplace\s+security upgrades, reboot if required$`, out)

	// The security fix is published (its postinst asks for a reboot).
	c.remint(t, ctx, "sim", "publish-package", "--repo-dir", repo, "--suite", "bookworm-security", "--name", "demo-libssl",
		"--version", "1.0-1+deb12u1", "--postinst-reboot-required")

	reason := "CVE-2026-0001 in demo-libssl"
	out, _, code = remint("emergency", "--security", "--all", "--reason", reason)
	require.Equal(t, 0, code, out)
	m = regexp.MustCompile(`deb: built (\d{4}\.\d{2}\.\d+) out of cycle \(was ` + regexp.QuoteMeta(v1) + `; image ([0-9a-f-]+),`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	v2, v2Image := m[1], m[2]
	assert.Contains(t, out, "demo-libssl 1.0-1 → 1.0-1+deb12u1 (bookworm-security)")
	assert.Contains(t, out, "web: rebuilt: rebuilt onto deb "+v2+": 1 server replaced")
	assert.Regexp(t, `db: patched: patched in place \(run ip-\S+\): 1 server, 1 security update installed, 1 reboot`, out)
	assert.Contains(t, out, "security packages now installed (over the 2 servers rebuilt or patched):\n  demo-libssl 1.0-1 → 1.0-1+deb12u1 on 2/2 servers\n")
	assert.Contains(t, out, "emergency security rollout succeeded")

	// The new image is active and records the reason; web's server runs it; the pet has the fix.
	show, _, code := remint("image", "show", "deb", "latest", "-o", "json", "--log-level", "error")
	require.Equal(t, 0, code)
	var latest entryJSON
	require.NoError(t, json.Unmarshal([]byte(show), &latest), show)
	assert.Equal(t, v2, latest.Version)
	assert.Equal(t, v2Image, latest.ImageID)
	assert.Equal(t, "active", latest.State)
	assert.Equal(t, reason, latest.Properties["remint_build_reason"])
	// The old server was deleted (the cloud removes it in the background).
	var live []openstack.Server
	require.Eventually(t, func() bool {
		servers, err := c.os.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "web-"})
		require.NoError(t, err)
		live = servers
		return len(servers) == 1
	}, 2*time.Minute, 500*time.Millisecond, "web's one slot, the old server gone")
	assert.Equal(t, v2Image, live[0].ImageID, "web-0 runs the new image")
	fips, err := c.os.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{})
	require.NoError(t, err)
	require.Len(t, fips, 1)
	assert.Equal(t, live[0].AccessIP, fips[0].FixedIP, "the floating IP points at the new server")
	assert.Equal(t, "1.0-1+deb12u1", petVersion())

	// Right after, nothing is pending: no build, nothing replaced, nothing installed.
	out, _, code = remint("emergency", "--security", "--all", "--output", "json", "--log-level", "error")
	require.Equal(t, 0, code, out)
	var rep orchestrator.EmergencyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, "succeeded", rep.Status)
	require.Len(t, rep.Families, 1)
	assert.Equal(t, orchestrator.BuildSkipped, rep.Families[0].Build)
	assert.Contains(t, rep.Families[0].Reason, "no pending security updates for "+v2)
	require.Len(t, rep.Targets, 2)
	targets := map[string]orchestrator.EmergencyTarget{}
	for _, tr := range rep.Targets {
		targets[tr.Target] = tr
	}
	assert.Equal(t, orchestrator.EmergencyUpToDate, targets["web"].Result, "web")
	assert.Equal(t, orchestrator.EmergencyPatched, targets["db"].Result, "db")
	assert.Zero(t, targets["db"].UpdatesInstalled)
	assert.Zero(t, targets["db"].Reboots)
	assert.Empty(t, rep.Packages)
	assert.True(t, rep.NothingChanged())
	out, _, code = remint("emergency", "--security", "web", "--log-level", "error")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "deb: nothing changed, no build: no pending security updates for "+v2)
	assert.Contains(t, out, "web: up-to-date: every slot already runs deb "+v2+": nothing to replace")
	assert.Contains(t, out, "nothing changed: no image built, no server replaced or patched\n")
	show, _, code = remint("image", "show", "deb", "latest", "-o", "json", "--log-level", "error")
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(show), &latest), show)
	assert.Equal(t, v2, latest.Version, "no new version")

	// The same as a durable job, worked by `remint serve` (its API wants a bearer token).
	// (Made without the remint helper, which logs stdout: a secret stays out of the log.)
	secret, err := exec.CommandContext(ctx, c.bin, "token", "create", "--name", "e2e", "--output", "secret", "-f", manifest).Output()
	require.NoError(t, err)
	apiToken = strings.TrimSpace(string(secret))
	serve := exec.CommandContext(ctx, c.bin, "serve", "--listen", "127.0.0.1:0", "-f", manifest)
	serve.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML, "OS_CLOUD=remint-sim", "REMINT_LEASE_TTL=3s", "REMINT_SSH_KEY="+key)
	var serveOut syncBuffer
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	require.NoError(t, serve.Start())
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	var url string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(serveOut.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, time.Minute, 100*time.Millisecond, "remint serve listens: %s", serveOut.String())
	out, _, code = remint("job", "submit", "emergency", "all", "--reason", reason, "--server", url, "--output", "json")
	require.Equal(t, 0, code, out)
	var job orchestrator.Job
	require.NoError(t, json.Unmarshal([]byte(out), &job), out)
	assert.Equal(t, "token e2e", job.RequestedBy)
	client := &orchestrator.Client{Base: url, Token: apiToken}
	require.Eventually(t, func() bool {
		j, err := client.Get(ctx, job.ID)
		job = j
		return err == nil && (j.Status == orchestrator.StatusSucceeded || j.Status == orchestrator.StatusFailed)
	}, 5*time.Minute, time.Second, "the emergency job ends")
	require.Equal(t, orchestrator.StatusSucceeded, job.Status, "reason %q, decisions %q\n%s", job.Reason, job.Decisions, serveOut.String())
	all := strings.Join(job.Decisions, "\n")
	assert.Contains(t, all, "emergency security rollout of db, web requested by token e2e; reason: "+reason)
	assert.Contains(t, all, "image deb: nothing changed, no build: no pending security updates for "+v2)
	assert.Contains(t, all, "web: up-to-date")
	assert.Contains(t, all, "db: patched: patched in place")
	assert.Contains(t, all, "no security package changed on the 1 server rebuilt or patched")
}
