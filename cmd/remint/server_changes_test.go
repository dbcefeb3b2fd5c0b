package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// changesManifest is leaseManifest with a pet beside web.
const changesManifest = leaseManifest + `  db:
    count: 1
    replaceable: false
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
`

// The --server mode of the commands that change the daemon's records and catalog, against
// a real `remint serve` process: group adopt, group forget and image retire print what
// the local commands print and exit as they do, holding the group's lease the same way;
// image build queues a build job and exits 1 when it fails, as the local build does.
func TestServerModeChangesThroughRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, changesManifest, 100*time.Millisecond)
	w.register("debian-12-a")
	daemon, url := w.startServe(nil)
	ctx := t.Context()
	var st *store.Store

	// Servers made with the OpenStack API, named as remint names slots.
	b, err := w.os.GetServer(ctx, w.builder)
	require.NoError(t, err)
	ids := map[string]string{}
	for _, name := range []string{"web-0", "web-1", "db-0"} {
		s, err := w.os.CreateServer(ctx, openstack.ServerSpec{Name: name, ImageID: b.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
		require.NoError(t, err)
		_, err = w.os.WaitServerActive(ctx, s.ID)
		require.NoError(t, err)
		ids[name] = s.ID
	}

	// same runs args through the daemon, then locally: the same exit status and stdout.
	same := func(want int, args ...string) string {
		t.Helper()
		remote := w.start(w.tokenEnv(), append(args, "--server", url)...)
		require.Equal(t, want, remote.wait(t), "%s", remote)
		local := w.start(nil, args...)
		require.Equal(t, want, local.wait(t), "%s", local)
		require.Equal(t, local.stdout.String(), remote.stdout.String(), "%v through the daemon and locally", args)
		return remote.stdout.String()
	}

	// adopt (repeating it records the same), text and JSON; a pet too.
	out := same(0, "group", "adopt", "web")
	require.Contains(t, out, "slot web-0: adopted server web-0 ("+ids["web-0"]+")")
	require.Contains(t, out, "slot web-1: adopted server web-1 ("+ids["web-1"]+")")
	out = same(0, "group", "adopt", "web", "--output", "json")
	var adopted struct {
		Group   string `json:"group"`
		Adopted []struct {
			ServerID string `json:"server_id"`
		} `json:"adopted"`
		Notes []string `json:"notes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &adopted))
	require.Len(t, adopted.Adopted, 2)
	require.NotNil(t, adopted.Notes, "notes is a list, never null")
	require.Contains(t, same(0, "group", "adopt", "db"), "slot db-0: adopted server db-0")

	// forget: nothing is gone; a pet is refused (exit 2), as locally.
	require.Contains(t, same(0, "group", "forget", "web"), "group web: every recorded server and address exists; nothing to forget")
	for _, args := range [][]string{{"group", "forget", "db"}, {"group", "adopt", "nope"}, {"group", "forget", "web", "--wait-lock", "-1s"}} {
		remote := w.start(w.tokenEnv(), append(args, "--server", url)...)
		require.Equal(t, 2, remote.wait(t), "%s", remote)
		local := w.start(nil, args...)
		require.Equal(t, 2, local.wait(t), "%s", local)
		require.Empty(t, remote.stdout.String())
		msg := strings.TrimPrefix(strings.TrimSpace(local.stderr.String()), "remint: ")
		msg = strings.Replace(msg, " in "+w.mf, " in the manifest", 1) // the daemon names no file
		msg, _, _ = strings.Cut(msg, " (")
		require.Contains(t, remote.stderr.String(), msg, "%v", args)
	}

	// Another process changes web: adopt and forget are refused (exit 1) naming it,
	// through the daemon as locally; --wait-lock outlasts a short hold.
	st, err = store.Open(ctx, w.statePath())
	require.NoError(t, err)
	defer st.Close()
	holder := &lease.Manager{Store: st, TTL: 30 * time.Second, Holder: store.LeaseHolder{Host: "ci", PID: 42, Command: "remint rebuild web"}}
	held, err := holder.Acquire(ctx, lease.GroupKey("web"))
	require.NoError(t, err)
	for _, args := range [][]string{{"group", "adopt", "web"}, {"group", "forget", "web", "--all"}} {
		require.Empty(t, same(1, args...))
		p := w.start(w.tokenEnv(), append(args, "--server", url)...)
		require.Equal(t, 1, p.wait(t), "%s", p)
		require.Contains(t, p.stderr.String(), "group web is being changed by `remint rebuild web` (pid 42 on host ci)")
		require.Contains(t, p.stderr.String(), "; wait with --wait-lock 10m or retry later")
	}
	require.Equal(t, `{
  "group": "web",
  "forgotten": []
}
`, same(1, "group", "forget", "web", "--all", "--output", "json"))
	waiting := w.start(w.tokenEnv(), "group", "forget", "web", "--wait-lock", "30s", "--server", url)
	go func() {
		time.Sleep(time.Second)
		held.Release(context.Background())
	}()
	require.Equal(t, 0, waiting.wait(t), "%s", waiting)
	require.Contains(t, waiting.stdout.String(), "nothing to forget")

	// What the cloud lost is forgotten through the daemon.
	require.NoError(t, w.os.DeleteServer(ctx, ids["web-1"]))
	require.Eventually(t, func() bool {
		_, err := w.os.GetServer(ctx, ids["web-1"])
		return openstack.IsNotFound(err)
	}, 10*time.Second, 20*time.Millisecond)
	p := w.start(w.tokenEnv(), "group", "forget", "web", "--server", url)
	require.Equal(t, 0, p.wait(t), "%s", p)
	require.Equal(t, "web-1: forgot server web-1 ("+ids["web-1"]+"): no longer exists\n"+
		"group web: 1 records dropped; nothing in the cloud was changed. The next `remint rebuild web` creates servers and allocates addresses afresh.\n", p.stdout.String())
	require.Contains(t, same(0, "group", "adopt", "web"), "note: slot web-1: no server (the next rebuild creates one)")

	// retire: dry runs are the same; the daemon retires; then both have nothing to do.
	w.register("debian-12-b")
	w.register("debian-12-c")
	out = same(0, "image", "retire", "debian-12", "--keep", "1", "--dry-run")
	require.Contains(t, out, "dry run (keep 1): nothing was changed; retire would do this:\n")
	require.Equal(t, 4, strings.Count(out, "\ndebian-12 "), "two retired, two deleted:\n%s", out)
	out = same(0, "image", "retire", "debian-12", "--keep", "1", "--dry-run", "--output", "json")
	require.Contains(t, out, `"keep": 1`)
	p = w.start(w.tokenEnv(), "image", "retire", "debian-12", "--keep", "1", "--server", url)
	require.Equal(t, 0, p.wait(t), "%s", p)
	require.Equal(t, 2, strings.Count(p.stdout.String(), "retired: beyond retention of 1"), "%s", p)
	require.Equal(t, 2, strings.Count(p.stdout.String(), "deleted: retired and unused"), "%s", p)
	require.Equal(t, "debian-12: nothing to retire (keep 1)\n", same(0, "image", "retire", "debian-12", "--keep", "1"))
	require.Equal(t, "debian-12: nothing to retire (keep 3)\n", same(0, "image", "retire", "debian-12"), "the family's retention")
	p = w.start(w.tokenEnv(), "image", "retire", "ubuntu", "--server", url)
	require.Equal(t, 2, p.wait(t), "%s", p)
	require.Contains(t, p.stderr.String(), `image family "ubuntu" is not in the manifest (image families: debian-12)`)

	// build: a job the daemon runs; the loopback servers have no SSH, so it fails at
	// wait-ssh and the command exits 1, as the local build does.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "build", "ubuntu"}, `image family "ubuntu" is not in the manifest`},
		{[]string{"image", "build", "debian-12", "--wait-lock", "1m"}, "--wait-lock and --server"},
	} {
		p := w.start(w.tokenEnv(), append(c.args, "--server", url)...)
		require.Equal(t, 2, p.wait(t), "%s", p)
		require.Contains(t, p.stderr.String(), c.want)
	}
	local := w.start(nil, "image", "build", "debian-12", "--ssh-timeout", "1s")
	require.Equal(t, 1, local.wait(t), "%s", local)
	require.Contains(t, local.stdout.String(), "FAILED at step")
	build := w.start(w.tokenEnv(), "image", "build", "debian-12", "--ssh-timeout", "1s", "--keep-failed", "--server", url)
	require.Equal(t, 1, build.wait(t), "%s", build)
	require.Contains(t, build.stdout.String(), "build-image debian-12 queued on "+url)
	require.Regexp(t, `job \d+: build-image debian-12 failed`, build.stdout.String())
	jobs, err := w.client(url).List(ctx, orchestrator.ListOptions{Kinds: []string{orchestrator.KindBuildImage}})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.JSONEq(t, `{"keep_failed":true,"ssh_timeout_seconds":1}`, string(jobs[0].Options), "the flags reach the job")
	require.Equal(t, "token admin", jobs[0].RequestedBy)

	// Every change is logged with the token's name, never its secret.
	for _, path := range []string{"/v1/groups/web/adopt", "/v1/groups/web/forget", "/v1/images/debian-12/retire", "/v1/images/debian-12/build"} {
		require.Eventually(t, func() bool {
			return strings.Contains(daemon.stderr.String(), `"path":"`+path+`"`)
		}, 10*time.Second, 50*time.Millisecond, "the daemon logs the write to %s: %s", path, daemon)
	}
	require.Contains(t, daemon.stderr.String(), `"token":"admin"`)
	require.NotContains(t, daemon.stderr.String(), w.token(), "never the secret")
}
