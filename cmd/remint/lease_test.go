package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simclient"
	"github.com/remint-dev/remint/internal/store"
)

// leaseManifest is a group whose rollout takes several seconds (1s boots, a 1s grace
// period, two slots one after the other), so that a second command arrives while the
// first still runs.
const leaseManifest = `cloud: remint-sim
state: state/remint.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  web:
    count: 2
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    key_name: remint
    failover:
      addresses:
        - allocate_from: public
        - allocate_from: public
    health:
      http: {port: 8080, path: /healthz, body: ok}
      interval: 100ms
      healthy_threshold: 2
      grace_period: 1s
      deadline: 4s
    rollout:
      max_surge: 1
      keep_old: 1h
`

// world is a simulator (in this process, loopback driver) with the seeded image, a
// manifest and a clouds.yaml, for commands run in this process or as real processes.
type world struct {
	t       *testing.T
	dir     string
	mf      string
	clouds  string
	os      *openstack.Client
	cat     *catalog.Catalog
	builder string
}

func startWorld(t *testing.T, manifest string, bootTime time.Duration) *world {
	t.Helper()
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	c := simclient.Start(t, simclient.Options{Sim: sim.Config{Driver: driver, BootTime: bootTime, ImageSaveTime: 20 * time.Millisecond}, SetEnv: true})
	w := &world{t: t, dir: t.TempDir(), clouds: c.CloudsFile, os: c.Client, cat: catalog.New(c.Client)}
	w.mf = filepath.Join(w.dir, "remint.yaml")
	require.NoError(t, os.WriteFile(w.mf, []byte(manifest), 0o644))
	ctx := t.Context()
	b, err := w.os.CreateServer(ctx, openstack.ServerSpec{Name: "builder", ImageID: c.Seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = w.os.WaitServerActive(ctx, b.ID)
	require.NoError(t, err)
	w.builder = b.ID
	return w
}

// register snapshots the builder as a new image and registers it as debian-12's next
// version, which it returns.
func (w *world) register(name string) string {
	w.t.Helper()
	ctx := w.t.Context()
	id, err := w.os.CreateServerImage(ctx, w.builder, name, nil)
	require.NoError(w.t, err)
	_, err = w.os.WaitImageActive(ctx, id)
	require.NoError(w.t, err)
	e, _, err := w.cat.Register(ctx, "debian-12", id, time.Now())
	require.NoError(w.t, err)
	return e.Version.String()
}

func (w *world) statePath() string { return filepath.Join(w.dir, "state", "remint.db") }

// show runs `group show web --output json` in this process.
func (w *world) show() failover.GroupStatus {
	w.t.Helper()
	var out, errOut bytes.Buffer
	require.NoError(w.t, runGroupShow(w.t.Context(), &out, &errOut, "web", groupOptions{file: w.mf, output: "json"}), errOut.String())
	require.Contains(w.t, out.String(), `"orphans": [`, "orphans is a list, never null")
	var v failover.GroupStatus
	require.NoError(w.t, json.Unmarshal(out.Bytes(), &v))
	return v
}

// assertServing checks every slot's failover address: an HTTP GET through it is
// answered by a healthy server on version.
func (w *world) assertServing(version string) {
	w.t.Helper()
	v := w.show()
	require.Len(w.t, v.Slots, 2)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, sl := range v.Slots {
		require.NotEmpty(w.t, sl.Address, "slot %d has an address", sl.Slot)
		require.Equal(w.t, "server", sl.AddressOn, "slot %d: address %s points at its server", sl.Slot, sl.Address)
		require.Equal(w.t, "healthy", sl.Health, "slot %d", sl.Slot)
		resp, err := client.Get("http://" + sl.Address + ":8080/")
		require.NoError(w.t, err, "GET through %s", sl.Address)
		var who map[string]string
		err = json.NewDecoder(resp.Body).Decode(&who)
		resp.Body.Close()
		require.NoError(w.t, err)
		require.Equal(w.t, version, who["image_version"], "slot %d through %s", sl.Slot, sl.Address)
		require.Equal(w.t, sl.ServerID, who["server_id"], "slot %d through %s", sl.Slot, sl.Address)
		resp, err = client.Get("http://" + sl.Address + ":8080/healthz")
		require.NoError(w.t, err)
		resp.Body.Close()
		require.Equal(w.t, http.StatusOK, resp.StatusCode)
	}
}

// assertNoStrays checks that every server of the group is a slot's server or an old
// server kept for rollback, and that group show lists no orphan.
func (w *world) assertNoStrays() {
	w.t.Helper()
	ctx := w.t.Context()
	st, err := store.Open(ctx, w.statePath())
	require.NoError(w.t, err)
	defer st.Close()
	want := map[string]string{}
	slots, err := st.Slots(ctx, "web")
	require.NoError(w.t, err)
	for _, sl := range slots {
		want[sl.ServerID] = "slot"
	}
	rollouts, err := st.Rollouts(ctx, "web")
	require.NoError(w.t, err)
	for _, ro := range rollouts {
		require.NotEqual(w.t, store.RolloutRunning, ro.Status, "rollout %s unfinished", ro.ID)
		steps, err := st.Steps(ctx, ro.ID)
		require.NoError(w.t, err)
		for _, s := range steps {
			if s.State == failover.StateKept {
				want[s.OldServerID] = "kept"
			}
		}
	}
	servers, err := w.os.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "web-"})
	require.NoError(w.t, err)
	for _, s := range servers {
		if s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		_, ok := want[s.ID]
		require.True(w.t, ok, "server %s (%s, %s) is in no slot and not kept for rollback", s.Name, s.ID, s.Status)
	}
	require.Empty(w.t, w.show().Orphans)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// TestMain removes the binary remintBinary built, so test runs leave nothing in $TMPDIR.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && os.Getenv("REMINT_BIN") == "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// remintBinary is $REMINT_BIN or a build of this command made once per test run.
func remintBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("REMINT_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "remint-cmd-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "remint")
		out, err := osexec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build remint: %w\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// proc is a remint process.
type proc struct {
	cmd            *osexec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	err            error
}

// start runs the binary with args (-f the world's manifest added) and extra environment.
func (w *world) start(env []string, args ...string) *proc {
	w.t.Helper()
	cmd := osexec.Command(remintBinary(w.t), append(args, "-f", w.mf)...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	require.NoError(w.t, cmd.Start())
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns the exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s did not finish within 3 minutes; output:\n%s\n%s", p.cmd, p.stdout, p.stderr)
	}
	var ee *osexec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1
		}
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) String() string {
	return fmt.Sprintf("%s (pid %d)\nstdout:\n%s\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), p.pid(), p.stdout, p.stderr)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*lockedBuffer)(nil)

// Two real `remint rebuild web` processes against one simulator, the second started 0s,
// 1.2s and 3s after the first: exactly one runs the rollout, the other is refused at
// once (exit 1) naming the first; afterwards every address serves a healthy server of
// the new version and no server is outside the slots and the kept-for-rollback set.
func TestConcurrentRebuildsOnlyOneRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, time.Second)
	w.register("debian-12-a")
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)

	for i, stagger := range []time.Duration{0, 1200 * time.Millisecond, 3 * time.Second} {
		version := w.register(fmt.Sprintf("debian-12-%d", i))
		first := w.start(nil, "rebuild", "web")
		time.Sleep(stagger)
		second := w.start(nil, "rebuild", "web")
		c1, c2 := first.wait(t), second.wait(t)
		winner, loser := first, second
		if c2 == 0 {
			winner, loser = second, first
		}
		require.ElementsMatch(t, []int{0, 1}, []int{c1, c2}, "stagger %s: exactly one runs, the other exits 1\n%s\n%s", stagger, first, second)
		require.Contains(t, winner.stdout.String(), "completed", "%s", winner)
		refusal := fmt.Sprintf("remint: group web is being changed by `remint rebuild web` (pid %d on host ", winner.pid())
		require.Contains(t, loser.stderr.String(), refusal, "stagger %s: %s", stagger, loser)
		require.Contains(t, loser.stderr.String(), "wait with --wait-lock 10m or retry later")
		require.NotContains(t, loser.stdout.String(), "resuming", "the refused command touched nothing: %s", loser)
		w.assertServing(version)
		w.assertNoStrays()
	}
}

// kill -9 the holder mid-rollout: --resume is refused while its lease is unexpired, and
// takes over once it expired (here waiting for it with --wait-lock), finishing the
// rollout with no orphan.
func TestResumeAfterKillTakesOverOnlyAnExpiredLease(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, time.Second)
	w.register("debian-12-a")
	// A lease is renewed every TTL/3, so a killed holder's lease outlives it by at
	// least 2/3 of the TTL: 4s here, time enough to be refused.
	ttl := []string{lease.EnvTTL + "=6s"}
	deploy := w.start(ttl, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")

	holder := w.start(ttl, "rebuild", "web")
	require.Eventually(t, func() bool { return strings.Contains(holder.stdout.String(), " creating ") },
		time.Minute, 20*time.Millisecond, "the rollout starts: %s", holder)
	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, holder.wait(t))
	killed := time.Now()

	early := w.start(ttl, "rebuild", "web", "--resume")
	require.Equal(t, 1, early.wait(t), "%s", early)
	require.Contains(t, early.stderr.String(), fmt.Sprintf("group web is being changed by `remint rebuild web` (pid %d on host ", holder.pid()),
		"refused while the killed holder's lease is unexpired")
	require.NotContains(t, early.stdout.String(), "resuming")

	late := w.start(ttl, "rebuild", "web", "--resume", "--wait-lock", "30s")
	require.Equal(t, 0, late.wait(t), "%s", late)
	require.GreaterOrEqual(t, time.Since(killed), 4*time.Second, "taken over only after the lease expired")
	require.Contains(t, late.stdout.String(), "resuming rollout")
	require.Contains(t, late.stdout.String(), "completed")
	w.assertServing(version)
	w.assertNoStrays()
}

// A server tagged with the group that nothing records is listed by group show (with age
// and why) and deleted by rebuild once older than the health deadline plus the lease
// TTL, and said so.
func TestOrphansShownThenDeletedByRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Setenv(lease.EnvTTL, "1s")
	w := startWorld(t, leaseManifest, 50*time.Millisecond)
	w.register("debian-12-a")
	ctx := t.Context()
	var out, errOut bytes.Buffer
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: w.mf, output: "text"}), errOut.String())
	require.Empty(t, w.show().Orphans)

	latest, err := w.cat.Latest(ctx, "debian-12")
	require.NoError(t, err)
	stray, err := w.os.CreateServer(ctx, openstack.ServerSpec{Name: "web-7-stray", ImageID: latest.Image.ID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork,
		Metadata: map[string]string{failover.MetaGroup: "web", failover.MetaSlot: "7", failover.MetaRollout: "gone"}})
	require.NoError(t, err)
	_, err = w.os.WaitServerActive(ctx, stray.ID)
	require.NoError(t, err)

	orphans := w.show().Orphans
	require.Len(t, orphans, 1)
	require.Equal(t, stray.ID, orphans[0].ServerID)
	require.Equal(t, "web-7-stray", orphans[0].ServerName)
	require.Equal(t, "tagged with rollout gone, which the state store does not know", orphans[0].Why)
	require.Positive(t, orphans[0].Age)
	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: w.mf, output: "text"}))
	require.Contains(t, out.String(), "orphan: web-7-stray")

	// Younger than the deadline (4s health deadline + 1s lease TTL): reported, left.
	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: w.mf, output: "text"}), errOut.String())
	require.Contains(t, out.String(), "orphaned server web-7-stray")
	require.Contains(t, out.String(), "deleted once older than 5s")
	require.Contains(t, out.String(), "nothing to do")
	require.Len(t, w.show().Orphans, 1)

	time.Sleep(time.Until(orphans[0].Created.Add(5 * time.Second)))
	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: w.mf, output: "text"}), errOut.String())
	require.Contains(t, out.String(), "deleted orphaned server web-7-stray")
	require.NoError(t, w.os.WaitServerDeleted(ctx, stray.ID), "Nova deletes asynchronously")
	require.Empty(t, w.show().Orphans)
	w.assertNoStrays()
}

// Bad input exits 2: negative rollout knobs (naming the flag), and a version the family
// does not have (rebuild, rebuild --dry-run, plan, or a manifest pinning it).
func TestRebuildBadInputIsAUsageError(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulator")
	}
	w := startWorld(t, leaseManifest, 50*time.Millisecond)
	w.register("debian-12-a")
	ctx := t.Context()
	run := func(args ...string) error {
		root := newRootCmd()
		root.SetArgs(append(args, "-f", w.mf))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		return root.ExecuteContext(ctx)
	}
	for flag, args := range map[string][]string{
		"--max-surge -1":       {"rebuild", "web", "--max-surge", "-1"},
		"--max-unavailable -5": {"rebuild", "web", "--max-unavailable=-5"},
		"--wait-lock -1s":      {"rebuild", "web", "--wait-lock=-1s"},
	} {
		err := run(args...)
		var ue usageError
		require.ErrorAs(t, err, &ue, flag)
		require.ErrorContains(t, err, flag+": must not be negative")
	}
	for _, args := range [][]string{
		{"rebuild", "web", "--image", "2099.01.1"},
		{"rebuild", "web", "--image", "2099.01.1", "--dry-run"},
		{"plan", "web", "--image", "2099.01.1"},
	} {
		err := run(args...)
		var ue usageError
		require.ErrorAs(t, err, &ue, "%v", args)
		require.ErrorContains(t, err, "family debian-12 has no version 2099.01.1")
	}
	pinned := strings.Replace(leaseManifest, "image: {family: debian-12}", "image: {family: debian-12, version: 2099.01.1}", 1)
	require.NoError(t, os.WriteFile(w.mf, []byte(pinned), 0o644))
	err := run("rebuild", "web")
	var ue usageError
	require.ErrorAs(t, err, &ue)
	// Nothing was recorded or created.
	servers, err := w.os.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "web-"})
	require.NoError(t, err)
	require.Empty(t, servers)
}
