// Package e2e runs remint's end-to-end scenarios: the real remint binary, `remint sim
// --driver docker` with servers that are real hosts (containers with sshd, apt and the
// workload), and the OpenStack API in between. `make e2e` runs it with REMINT_E2E=1; without
// that variable every test skips, so `go test ./...` stays fast and Docker-free. With it, a
// missing prerequisite (Docker, debootstrap, root) fails the run with what to install.
//
// REMINT_BIN names the remint binary to test (make e2e passes bin/remint, built with
// CGO_ENABLED=0: the docker driver bakes the running binary into the base image as the
// workload); without it the harness builds one.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// requireE2E skips unless REMINT_E2E is set, then fails on any missing prerequisite.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("REMINT_E2E") == "" {
		t.Skip("end-to-end test: run it with make e2e (REMINT_E2E=1)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("make e2e needs root: debootstrap builds the base image and the host reaches servers on the Docker bridge")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatal("make e2e needs debootstrap to build the base image: apt-get install -y debootstrap")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("make e2e needs a running Docker Engine (apt-get install -y docker.io, then start it): %v", err)
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// remintBinary is $REMINT_BIN or a static build of ./cmd/remint made once per run.
func remintBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("REMINT_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "remint-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "remint")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "github.com/remint-dev/remint/cmd/remint")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build remint: %w\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// cloud is a running `remint sim --driver docker --seed` and what a client needs to use it.
type cloud struct {
	bin        string
	dir        string // holds clouds.yaml and the seed keypair's private key
	stateDir   string // the simulator's state: the apt repository is stateDir/apt
	cloudsYAML string
	imageID    string // the seeded debian-12 image
	signer     ssh.Signer
	os         *openstack.Client
	log        *syncBuffer // the simulator's stdout and stderr
}

// startCloud runs the simulator with the docker driver until the test ends. It waits for the
// clouds.yaml, which the simulator writes last, once seeding (and a base image build on a
// fresh machine) is done.
func startCloud(t *testing.T) *cloud {
	t.Helper()
	c := &cloud{bin: remintBinary(t), dir: t.TempDir(), stateDir: t.TempDir(), log: &syncBuffer{}}
	c.cloudsYAML = filepath.Join(c.dir, "clouds.yaml")
	cmd := exec.Command(c.bin, "sim", "--driver", "docker", "--seed",
		"--write-clouds-yaml", c.cloudsYAML, "--state-dir", c.stateDir)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	start := time.Now()
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM: the simulator deletes every server and its network before exiting.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("remint sim exited with %v; output:\n%s", err, c.log.String())
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("remint sim did not stop within 2 minutes of SIGTERM; output:\n%s", c.log.String())
		}
		if t.Failed() {
			t.Logf("remint sim output:\n%s", c.log.String())
		}
	})
	ready := func() bool {
		_, err := os.Stat(c.cloudsYAML)
		return err == nil
	}
	deadline := time.After(10 * time.Minute)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("remint sim exited before it was ready (%v); output:\n%s", err, c.log.String())
		case <-deadline:
			t.Fatalf("remint sim was not ready after 10 minutes; output:\n%s", c.log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("remint sim --driver docker ready after %s", time.Since(start).Round(time.Second))

	m := regexp.MustCompile(`seeded: image debian-12 \(([0-9a-f-]+)\)`).FindStringSubmatch(c.log.String())
	require.NotNil(t, m, "seed line in the simulator's output:\n%s", c.log.String())
	c.imageID = m[1]
	key, err := os.ReadFile(filepath.Join(c.dir, "remint-sim-key"))
	require.NoError(t, err)
	c.signer, err = ssh.ParsePrivateKey(key)
	require.NoError(t, err)
	c.os, err = openstack.Connect(context.Background(), openstack.ConnectOptions{Cloud: "remint-sim", CloudsFile: c.cloudsYAML})
	require.NoError(t, err)
	return c
}

// remint runs the binary with args and returns its output.
func (c *cloud) remint(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, c.bin, args...).CombinedOutput()
	require.NoError(t, err, "remint %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// boot creates a server on the private network with the seed keypair and waits for ACTIVE.
func (c *cloud) boot(t *testing.T, ctx context.Context, name, imageID string) openstack.Server {
	t.Helper()
	start := time.Now()
	s, err := c.os.CreateServer(ctx, openstack.ServerSpec{
		Name: name, ImageID: imageID, Flavor: "m1.small", Network: "private", KeyName: "remint",
	})
	require.NoError(t, err, "create server %s", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.os.DeleteServer(ctx, s.ID); err == nil {
			_ = c.os.WaitServerDeleted(ctx, s.ID)
		}
	})
	s, err = c.os.WaitServerActive(ctx, s.ID)
	require.NoError(t, err, "server %s to become ACTIVE", name)
	require.NotEmpty(t, s.AccessIP, "server %s has no address", name)
	t.Logf("server %s (%s) ACTIVE on %s after %s", name, s.ID, s.AccessIP, time.Since(start).Round(time.Millisecond))
	return s
}

// hostKeys reads the server's SSH host key fingerprints from its console log.
func (c *cloud) hostKeys(t *testing.T, ctx context.Context, s openstack.Server) remote.Fingerprints {
	t.Helper()
	console, err := c.os.ConsoleLog(ctx, s.ID, 0)
	require.NoError(t, err)
	fps, err := remote.HostKeysFromConsole(console)
	require.NoError(t, err, "host keys in the console log of %s:\n%s", s.Name, console)
	return fps
}

// ssh connects to addr as the image's default user, trusting only the keys in fps.
func (c *cloud) ssh(ctx context.Context, addr string, fps remote.Fingerprints) (*remote.Client, error) {
	return remote.Dial(ctx, remote.Config{Addr: addr, User: "debian", Signer: c.signer, HostKey: fps, Timeout: 15 * time.Second})
}

// run runs argv over conn and requires it to succeed.
func run(t *testing.T, ctx context.Context, conn *remote.Client, argv ...string) string {
	t.Helper()
	res, err := conn.Run(ctx, argv)
	require.NoError(t, err)
	require.NoError(t, res.Err(), "%s\nstdout:\n%s", strings.Join(argv, " "), res.Stdout)
	return res.Stdout
}

// whoAnswers returns the server id the workload at url reports, on a fresh connection.
func whoAnswers(t *testing.T, url string) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp.Header.Get("X-Remint-Server-Id")
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
