package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
)

// pets is the in-place scenario's world: one simulator, three servers of a pet group.
type pets struct {
	c        *cloud
	dir      string
	servers  map[string]openstack.Server
	keys     map[string]remote.Fingerprints
	weaveURL string
	weaveSum string
	caFile   string
}

const petsManifest = `cloud: remint-sim
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
    key_name: remint
    provision:
%s
groups:
  pets:
    count: 3
    image: {family: debian-12}
    flavor: m1.small
    network: private
    key_name: remint
    replaceable: false
    health:
      tcp: {port: 8080}
      interval: 200ms
      healthy_threshold: 2
    inplace:
      reboot: if-required
      concurrency: 2
      error_budget: 0
`

// manifest writes the pets manifest with the given provision lines and returns its path.
func (p *pets) manifest(t *testing.T, name, docker, weaveSum string) string {
	t.Helper()
	prov := "      full_upgrade: true"
	if docker != "" {
		prov += fmt.Sprintf("\n      docker: %q", docker)
	}
	if weaveSum != "" {
		prov += fmt.Sprintf("\n      weave:\n        version: 2.8.1\n        script_url: %s\n        sha256: %q", p.weaveURL, weaveSum)
	}
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(petsManifest, prov)), 0o644))
	return path
}

// inplace runs `remint inplace` with the manifest and returns stdout, stderr and the exit code.
func (p *pets) inplace(t *testing.T, ctx context.Context, manifest string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, p.c.bin, append([]string{"inplace", "-f", manifest, "-i", filepath.Join(p.c.dir, "remint-sim-key")}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+p.c.cloudsYAML, "SSL_CERT_FILE="+p.caFile, "REMINT_LEASE_TTL=2s")
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
	t.Logf("remint inplace %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), lastLines(stderr.String(), 15))
	return stdout.String(), stderr.String(), code
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (p *pets) ssh(t *testing.T, ctx context.Context, name string) *remote.Client {
	t.Helper()
	conn, err := p.c.ssh(ctx, p.servers[name].AccessIP, p.keys[name])
	require.NoError(t, err, "ssh %s", name)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (p *pets) versions(t *testing.T, ctx context.Context, name string) string {
	conn := p.ssh(t, ctx, name)
	return run(t, ctx, conn, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", "demo-libssl", "demo-tool")
}

func decodeSummary(t *testing.T, out string) inplace.Summary {
	t.Helper()
	var s inplace.Summary
	require.NoError(t, json.Unmarshal([]byte(out), &s), "summary JSON:\n%s", out)
	return s
}

func byName(s inplace.Summary) map[string]inplace.ServerResult {
	m := map[string]inplace.ServerResult{}
	for _, r := range s.Servers {
		m[r.Server.Name] = r
	}
	return m
}

// TestInplace is issue 12's scenario list through the real binary on the docker driver:
// a dry run lists and changes nothing; the error budget stops the roll at a server with
// a broken dpkg state; security updates installed and the non-security one left
// pending, reboot-required detected with its packages, reboot through the cloud with
// health back and downtime measured; unattended-upgrades' configuration valid and
// security-only; apt lock held → waits then fails clearly, a killed run is reported and
// resumed; Docker engine upgrade with running containers back; Weave checksum mismatch
// refused with nothing changed, then the pinned script installed; a host-key mismatch
// refused.
func TestInplace(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := startCloud(t)
	p := &pets{c: c, dir: t.TempDir(), servers: map[string]openstack.Server{}, keys: map[string]remote.Fingerprints{}}

	// The weave script, served over HTTPS on loopback; remint trusts the test's CA via SSL_CERT_FILE.
	script, err := os.ReadFile("testdata/weave-fake.sh")
	require.NoError(t, err)
	sum := sha256.Sum256(script)
	p.weaveSum = hex.EncodeToString(sum[:])
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/weave" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(script)
	}))
	t.Cleanup(ts.Close)
	p.weaveURL = ts.URL + "/weave"
	p.caFile = filepath.Join(p.dir, "ca.pem")
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644))

	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range []string{"pets-0", "pets-1", "pets-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := c.boot(t, ctx, n, c.imageID)
			k := c.hostKeys(t, ctx, s)
			mu.Lock()
			p.servers[n], p.keys[n] = s, k
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Len(t, p.servers, 3)
	t.Log(c.remint(t, ctx, "sim", "publish-package", "--repo-dir", filepath.Join(c.stateDir, "apt"), "--demo"))
	for n := range p.servers {
		conn := p.ssh(t, ctx, n)
		run(t, ctx, conn, "sudo", "-n", "apt-get", "update")
		run(t, ctx, conn, "sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "demo-libssl=1.0-1", "demo-tool=1.0-1")
	}
	plain := p.manifest(t, "remint.yaml", "", "")

	t.Run("dry run lists the security update and changes nothing", func(t *testing.T) {
		out, _, code := p.inplace(t, ctx, plain, "--servers", "pets-0", "--dry-run", "-o", "json")
		require.Equal(t, 0, code)
		s := decodeSummary(t, out)
		r := byName(s)["pets-0"]
		assert.Equal(t, inplace.StatusPlanned, r.Status)
		require.NotNil(t, r.Security)
		assert.Equal(t, []inplace.Change{{Name: "demo-libssl", From: "1.0-1", To: "1.0-1+deb12u1"}}, r.Security.Installed)
		require.Len(t, r.Security.LeftAlone, 1)
		assert.Equal(t, "demo-tool", r.Security.LeftAlone[0].Name)
		assert.Equal(t, "demo-libssl 1.0-1\ndemo-tool 1.0-1\n", p.versions(t, ctx, "pets-0"), "a dry run installs nothing")
	})

	t.Run("the error budget stops the roll at a server with a broken dpkg state", func(t *testing.T) {
		conn := p.ssh(t, ctx, "pets-2")
		// demo-tool 2.0-1 unpacked but never configured: dpkg --audit reports it.
		run(t, ctx, conn, "sh", "-c", "cd /tmp && apt-get download demo-tool=2.0-1 && sudo -n dpkg --unpack /tmp/demo-tool_2.0-1_all.deb")
		out, _, code := p.inplace(t, ctx, plain, "--servers", "pets-2,pets-0,pets-1", "--concurrency", "1", "--max-errors", "0", "-o", "json")
		assert.Equal(t, 1, code)
		s := decodeSummary(t, out)
		r := byName(s)
		assert.Equal(t, inplace.StatusFailed, r["pets-2"].Status)
		assert.Equal(t, inplace.PhasePreflight, r["pets-2"].Phase)
		assert.Contains(t, r["pets-2"].Error, "dpkg --audit")
		assert.Contains(t, r["pets-2"].Error, "demo-tool")
		assert.Equal(t, inplace.StatusNotStarted, r["pets-0"].Status)
		assert.Equal(t, inplace.StatusNotStarted, r["pets-1"].Status)
		assert.Contains(t, s.Error, "error budget 0 spent")
		assert.Equal(t, "demo-libssl 1.0-1\ndemo-tool 1.0-1\n", p.versions(t, ctx, "pets-0"), "servers after the spent budget are untouched")
		run(t, ctx, conn, "sudo", "-n", "dpkg", "--configure", "-a")
	})

	t.Run("security updates only, reboot if required, health back, downtime measured", func(t *testing.T) {
		out, _, code := p.inplace(t, ctx, plain, "--servers", "pets-0,pets-1", "-o", "json")
		require.Equal(t, 0, code, out)
		s := decodeSummary(t, out)
		assert.Equal(t, "succeeded", s.Status)
		for _, n := range []string{"pets-0", "pets-1"} {
			r := byName(s)[n]
			assert.Equal(t, inplace.StatusSucceeded, r.Status, n)
			require.NotNil(t, r.Security, n)
			assert.Equal(t, []inplace.Change{{Name: "demo-libssl", From: "1.0-1", To: "1.0-1+deb12u1"}}, r.Security.Installed, n)
			assert.Empty(t, r.Security.Failed, n)
			require.Len(t, r.Security.LeftAlone, 1, n)
			assert.Equal(t, "demo-tool", r.Security.LeftAlone[0].Name)
			assert.Equal(t, "2.0-1", r.Security.LeftAlone[0].Candidate)
			assert.ElementsMatch(t, []string{"/etc/apt/apt.conf.d/20auto-upgrades", "/etc/apt/apt.conf.d/52remint-security-only"}, r.Security.Unattended, n)
			require.NotNil(t, r.Reboot, n)
			assert.True(t, r.Reboot.Wanted, n)
			assert.Equal(t, []string{"demo-libssl"}, r.Reboot.Packages, n)
			assert.True(t, r.Reboot.Done, n)
			assert.Equal(t, "nova", r.Reboot.Via)
			assert.Positive(t, r.Reboot.Downtime, n)
			assert.GreaterOrEqual(t, r.Reboot.Downtime, r.Reboot.SSHBack, n)
			t.Logf("%s: downtime %s (SSH back after %s)", n, r.Reboot.Downtime, r.Reboot.SSHBack)
			assert.Equal(t, "demo-libssl 1.0-1+deb12u1\ndemo-tool 1.0-1\n", p.versions(t, ctx, n), "%s: the security update installed, the other left pending", n)
			conn := p.ssh(t, ctx, n)
			res, err := conn.Run(ctx, []string{"test", "-e", "/var/run/reboot-required"})
			require.NoError(t, err)
			assert.Equal(t, 1, res.ExitStatus, "%s: reboot-required gone", n)
		}

		// The text form ends with the table and the summary line.
		out, _, code = p.inplace(t, ctx, plain, "--servers", "pets-0")
		require.Equal(t, 0, code)
		assert.Regexp(t, `(?m)^pets-0\s+succeeded\s+0\s+0\s+1\s+not needed`, out, "nothing left to install; demo-tool still left alone")
		assert.Regexp(t, `(?m)^summary: \{"run":"ip-`, out)
	})

	t.Run("pets are adopted and shown with their pending updates", func(t *testing.T) {
		adopt := func(args ...string) string {
			cmd := exec.CommandContext(ctx, c.bin, append([]string{"group"}, append(args, "-f", plain)...)...)
			cmd.Dir = p.dir
			cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML)
			out, err := cmd.Output()
			require.NoError(t, err, "remint group %v: %s", args, out)
			return string(out)
		}
		out := adopt("adopt", "pets")
		for _, n := range []string{"pets-0", "pets-1", "pets-2"} {
			assert.Contains(t, out, "adopted server "+n+" ("+p.servers[n].ID+")")
		}
		out = adopt("show", "pets")
		t.Logf("remint group show pets:\n%s", out)
		// The latest in-place run (pets-0 alone) found demo-tool pending, not a security update.
		assert.Regexp(t, `pets-0: pets-0 \S+ ACTIVE .*, 1 pending updates\n`, out)
		assert.NotRegexp(t, `pets-1: .*pending updates`, out, "not looked at by the latest run")
	})

	t.Run("unattended-upgrades is configured for security only and valid", func(t *testing.T) {
		repo := filepath.Join(c.stateDir, "apt")
		c.remint(t, ctx, "sim", "publish-package", "--repo-dir", repo, "--suite", "bookworm-security",
			"--name", "demo-libssl", "--version", "1.0-1+deb12u2", "--postinst-reboot-required")
		conn := p.ssh(t, ctx, "pets-0")
		run(t, ctx, conn, "sudo", "-n", "apt-get", "update")
		res, err := conn.Run(ctx, []string{"sudo", "-n", "unattended-upgrade", "--dry-run", "-v"})
		require.NoError(t, err)
		out := res.Stdout + res.Stderr
		require.NoError(t, res.Err(), out)
		assert.Contains(t, out, "Allowed origins are: origin=Debian,codename=bookworm-security,label=Debian-Security, origin=Debian,codename=bookworm,label=Debian-Security\n")
		m := regexp.MustCompile(`Packages that will be upgraded: (.*)`).FindStringSubmatch(out)
		require.NotNil(t, m, out)
		assert.Equal(t, "demo-libssl", strings.TrimSpace(m[1]), "only the security update; demo-tool 2.0-1 (bookworm-updates) is not selected")
		assert.Equal(t, "demo-libssl 1.0-1+deb12u1\ndemo-tool 1.0-1\n", p.versions(t, ctx, "pets-0"), "--dry-run installed nothing")
		assert.Equal(t, "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
			run(t, ctx, conn, "sh", "-c", "apt-config dump | grep '^APT::Periodic::\\(Update-Package-Lists\\|Unattended-Upgrade\\) '"))
	})

	t.Run("apt lock held: waits, then a clear error; a killed run is reported and resumed", func(t *testing.T) {
		conn := p.ssh(t, ctx, "pets-1")
		// Hold dpkg's frontend lock the way apt does (an fcntl lock), for up to 5 minutes.
		run(t, ctx, conn, "sudo", "-n", "sh", "-c", `nohup python3 -c 'import fcntl, os, time
fd = os.open("/var/lib/dpkg/lock-frontend", os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
open("/run/lock-holder.pid", "w").write(str(os.getpid()))
time.sleep(300)' >/dev/null 2>&1 & sleep 1`)
		pid := strings.TrimSpace(run(t, ctx, conn, "cat", "/run/lock-holder.pid"))
		start := time.Now()
		out, _, code := p.inplace(t, ctx, plain, "--servers", "pets-1", "--lock-timeout", "4s", "-o", "json")
		assert.Equal(t, 1, code)
		assert.GreaterOrEqual(t, time.Since(start), 4*time.Second, "it waited for the lock")
		r := byName(decodeSummary(t, out))["pets-1"]
		assert.Equal(t, inplace.PhasePreflight, r.Phase)
		assert.Contains(t, r.Error, "apt/dpkg is busy: still locked after waiting")
		assert.Contains(t, r.Error, "/var/lib/dpkg/lock-frontend held by pid "+pid+" (python3")

		// A run killed while it waits leaves its record: the next run reports it, --resume continues it.
		cmd := exec.CommandContext(ctx, c.bin, "inplace", "-f", plain, "-i", filepath.Join(c.dir, "remint-sim-key"), "--servers", "pets-1", "--lock-timeout", "2m")
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+c.cloudsYAML, "REMINT_LEASE_TTL=2s")
		require.NoError(t, cmd.Start())
		time.Sleep(5 * time.Second)
		// While it runs, the group's lease refuses a second run at once, naming the holder.
		_, stderr, code := p.inplace(t, ctx, plain, "--servers", "pets-0")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, fmt.Sprintf("(pid %d on host ", cmd.Process.Pid))
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		time.Sleep(3 * time.Second) // the killed holder's lease expires (TTL 2s)
		_, stderr, code = p.inplace(t, ctx, plain, "--servers", "pets-1")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "did not finish (its process was killed or lost): pets-1 running (phase preflight)")
		assert.Contains(t, stderr, "--resume")
		run(t, ctx, conn, "sudo", "-n", "kill", pid)
		out, _, code = p.inplace(t, ctx, plain, "pets", "--resume", "-o", "json")
		assert.Equal(t, 0, code)
		s := decodeSummary(t, out)
		assert.Equal(t, "succeeded", s.Status)
		require.Len(t, s.Servers, 1, "the resumed run is the killed run's: pets-1 only")
		assert.Equal(t, inplace.StatusSucceeded, s.Servers[0].Status)
	})

	t.Run("docker engine upgraded through its API; running containers back", func(t *testing.T) {
		out := c.remint(t, ctx, "sim", "publish-package", "--repo-dir", filepath.Join(c.stateDir, "apt"), "--docker")
		m := regexp.MustCompile(`published docker.io (\S+) \(bookworm\) and (\S+) \(bookworm-updates\)`).FindStringSubmatch(out)
		require.NotNil(t, m, out)
		oldV, newV := m[1], m[2]
		conn := p.ssh(t, ctx, "pets-0")
		run(t, ctx, conn, "sudo", "-n", "apt-get", "update")
		run(t, ctx, conn, "sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends", "docker.io="+oldV)
		require.Eventually(t, func() bool {
			res, err := conn.Run(ctx, []string{"sudo", "-n", "docker", "version", "--format", "{{.Server.Version}}"})
			return err == nil && res.ExitStatus == 0
		}, time.Minute, time.Second, "dockerd up")
		run(t, ctx, conn, "sudo", "-n", "sh", "-c", "tar -C /usr/local/bin -c remint-workload | docker import - inner:1 >/dev/null && "+
			"docker run -d --name always --restart always --network none inner:1 /remint-workload workload --listen 127.0.0.1:9000 --server-id a >/dev/null && "+
			"docker run -d --name plain --network none inner:1 /remint-workload workload --listen 127.0.0.1:9000 --server-id b >/dev/null")

		withDocker := p.manifest(t, "docker.yaml", newV, "")
		out, _, code := p.inplace(t, ctx, withDocker, "--servers", "pets-0", "--docker", "--reboot", "never", "-o", "json")
		require.Equal(t, 0, code)
		r := byName(decodeSummary(t, out))["pets-0"]
		require.NotNil(t, r.Docker)
		assert.Equal(t, oldV, r.Docker.From)
		assert.Equal(t, newV, r.Docker.To)
		assert.True(t, r.Docker.Changed)
		assert.True(t, r.Docker.EngineRestart)
		assert.NotEmpty(t, r.Docker.EngineTo)
		names := map[string]inplace.ContainerResult{}
		for _, ct := range r.Docker.Containers {
			names[ct.Name] = ct
		}
		require.Len(t, names, 2)
		assert.True(t, names["always"].Running)
		assert.False(t, names["always"].RestartedByRemint, "restart policy always brings it back")
		assert.True(t, names["plain"].Running)
		assert.True(t, names["plain"].RestartedByRemint, "no restart policy: remint starts it")
		t.Logf("container downtime: always %s, plain %s", names["always"].Downtime, names["plain"].Downtime)
		assert.Equal(t, "always true\nplain true\n",
			sortedLines(run(t, ctx, conn, "sudo", "-n", "docker", "inspect", "-f", "{{.Name}} {{.State.Running}}", "always", "plain")))
		assert.Equal(t, "docker.io "+newV+"\n", run(t, ctx, conn, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", "docker.io"))

		// A lower pin is refused without --allow-downgrade.
		older := p.manifest(t, "older.yaml", oldV, "")
		out, _, code = p.inplace(t, ctx, older, "--servers", "pets-0", "--docker", "--reboot", "never", "-o", "json")
		assert.Equal(t, 1, code)
		assert.Contains(t, byName(decodeSummary(t, out))["pets-0"].Error, "not downgrading without --allow-downgrade")
	})

	t.Run("weave: checksum mismatch refused with nothing changed, then installed", func(t *testing.T) {
		bad := p.manifest(t, "weave-bad.yaml", "", strings.Repeat("0", 64))
		_, stderr, code := p.inplace(t, ctx, bad, "--servers", "pets-0", "--weave", "--reboot", "never")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "has SHA-256 "+p.weaveSum+", the manifest pins "+strings.Repeat("0", 64)+": refused")
		conn := p.ssh(t, ctx, "pets-0")
		res, err := conn.Run(ctx, []string{"sh", "-c", "ls /usr/local/bin/weave* /var/lib/weave-fake 2>&1"})
		require.NoError(t, err)
		assert.NotEqual(t, 0, res.ExitStatus, "nothing installed: %s", res.Stdout)

		good := p.manifest(t, "weave.yaml", "", p.weaveSum)
		out, _, code := p.inplace(t, ctx, good, "--servers", "pets-0,pets-1", "--weave", "--reboot", "never", "-o", "json")
		require.Equal(t, 0, code)
		r := byName(decodeSummary(t, out))["pets-0"]
		require.NotNil(t, r.Weave)
		assert.Equal(t, "", r.Weave.From)
		assert.Equal(t, "2.8.1", r.Weave.To)
		assert.True(t, r.Weave.Changed)
		assert.Equal(t, []string{p.servers["pets-1"].AccessIP}, r.Weave.Peers)
		assert.Equal(t, p.servers["pets-1"].AccessIP+"\n", run(t, ctx, conn, "cat", "/var/lib/weave-fake/peers"), "launched with the other servers as peers")
		assert.Contains(t, run(t, ctx, conn, "sudo", "-n", "/usr/local/bin/weave", "status"), "Version: 2.8.1")
	})

	t.Run("a host-key mismatch is refused", func(t *testing.T) {
		conn := p.ssh(t, ctx, "pets-2")
		// New host keys that the console never showed: a man in the middle, as far as remint can tell.
		run(t, ctx, conn, "sudo", "-n", "sh", "-c", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && kill -HUP $(cat /run/sshd.pid)")
		time.Sleep(time.Second)
		out, _, code := p.inplace(t, ctx, plain, "--servers", "pets-2", "-o", "json")
		assert.Equal(t, 1, code)
		r := byName(decodeSummary(t, out))["pets-2"]
		assert.Equal(t, inplace.PhaseConnect, r.Phase)
		assert.Contains(t, r.Error, "host key verification failed")
	})
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	for i := range l {
		l[i] = strings.TrimPrefix(l[i], "/")
	}
	slices.Sort(l)
	return strings.Join(l, "\n") + "\n"
}
