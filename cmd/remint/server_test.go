package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
)

// The CLI's --server mode against a real `remint serve` process: group show and image
// list print what the local commands print, rebuild queues a job and follows its events
// to the end (exit 0; exit 1 when the rollout fails), and bad input exits 2.
func TestServerModeThroughRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 200*time.Millisecond)
	first := w.register("debian-12-a")
	daemon, url := w.startServe(nil)

	// The first deploy through the daemon, followed to the end.
	rebuild := w.start(w.tokenEnv(), "rebuild", "web", "--server", url)
	require.Equal(t, 0, rebuild.wait(t), "%s", rebuild)
	out := rebuild.stdout.String()
	require.Contains(t, out, "rebuild web queued on "+url)
	require.Contains(t, out, "requested by token admin")
	require.Regexp(t, `job \d+: rebuild web succeeded \(installed 2, failed 0\)`, out)

	// group show: the daemon's answer is the local command's.
	remote := w.start(w.tokenEnv(), "group", "show", "web", "--server", url, "--output", "json")
	require.Equal(t, 0, remote.wait(t), "%s", remote)
	local := w.start(w.tokenEnv(), "group", "show", "web", "--output", "json")
	require.Equal(t, 0, local.wait(t), "%s", local)
	var viaAPI, direct map[string]any
	require.NoError(t, json.Unmarshal([]byte(remote.stdout.String()), &viaAPI))
	require.NoError(t, json.Unmarshal([]byte(local.stdout.String()), &direct))
	require.Equal(t, direct, viaAPI)
	require.Len(t, viaAPI["slots"], 2)
	text := w.start(w.tokenEnv(), "group", "show", "web", "--server", url)
	require.Equal(t, 0, text.wait(t), "%s", text)
	require.Regexp(t, `web-0: web-0-\S+ \S+ ACTIVE image `+first+` ip \S+ address \S+ \(server\) healthy`, text.stdout.String())

	// image list: the same, through the API.
	remote = w.start(w.tokenEnv(), "image", "list", "--server", url, "--output", "json")
	require.Equal(t, 0, remote.wait(t), "%s", remote)
	local = w.start(w.tokenEnv(), "image", "list", "--output", "json")
	require.Equal(t, 0, local.wait(t), "%s", local)
	require.JSONEq(t, local.stdout.String(), remote.stdout.String())
	text = w.start(w.tokenEnv(), "image", "list", "debian-12", "--server", url)
	require.Equal(t, 0, text.wait(t), "%s", text)
	require.Regexp(t, `debian-12\s+`+first+`\s+active`, text.stdout.String())

	// image show and plan: the same, through the API.
	for _, args := range [][]string{{"image", "show", "debian-12", "--output", "json"}, {"plan", "web", "--force"}} {
		remote = w.start(w.tokenEnv(), append(args, "--server", url)...)
		require.Equal(t, 0, remote.wait(t), "%s", remote)
		local = w.start(w.tokenEnv(), args...)
		require.Equal(t, 0, local.wait(t), "%s", local)
		require.Equal(t, local.stdout.String(), remote.stdout.String())
		require.NotEmpty(t, remote.stdout.String())
	}

	// Bad input exits 2 with the daemon's reason or the flag's.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "show", "nope", "--server", url}, `group "nope" is not in the manifest (groups: web)`},
		{[]string{"image", "list", "ubuntu", "--server", url}, `image family "ubuntu" is not in the manifest (image families: debian-12)`},
		{[]string{"rebuild", "web", "--server", url, "--image", "newest"}, `--image "newest": want latest or a version YYYY.MM.N`},
		{[]string{"rebuild", "web", "--server", url, "--resume"}, "--resume and --server"},
		// Refused before it is queued, as the local rebuild refuses it before any change.
		{[]string{"rebuild", "web", "--server", url, "--image", "2099.01.1"}, "family debian-12 has no version 2099.01.1 (versions: " + first + ")"},
		{[]string{"rebuild", "web", "--server", "ftp://example"}, `--server "ftp://example": want an http:// or https:// URL`},
		{[]string{"image", "diff", "debian-12", first, "latest", "--server", url}, "no package list recorded"},
		{[]string{"image", "show", "debian-12", "2020.01.1", "--server", url}, "family debian-12 has no version 2020.01.1 (versions: " + first + ")"},
	} {
		p := w.start(w.tokenEnv(), c.args...)
		require.Equal(t, 2, p.wait(t), "%s", p)
		require.Contains(t, p.stderr.String(), c.want, "%s", p)
	}

	// register: a Packer manifest's newest build, read by the daemon.
	id, err := w.os.CreateServerImage(t.Context(), w.builder, "debian-12-packer", nil)
	require.NoError(t, err)
	_, err = w.os.WaitImageActive(t.Context(), id)
	require.NoError(t, err)
	pm := filepath.Join(w.dir, "packer-manifest.json")
	require.NoError(t, os.WriteFile(pm, []byte(`{"builds":[{"name":"openstack","builder_type":"openstack","build_time":1,"artifact_id":"`+id+`","packer_run_uuid":"r"}],"last_run_uuid":"r"}`), 0o644))
	reg := w.start(w.tokenEnv(), "image", "register", "debian-12", "--from-packer-manifest", pm, "--server", url)
	require.Equal(t, 0, reg.wait(t), "%s", reg)
	require.Regexp(t, `image `+id+` registered as debian-12 \S+ \(active\)`, reg.stdout.String())
	reg = w.start(w.tokenEnv(), "image", "register", "debian-12", id, "--verify", "--server", url)
	require.Equal(t, 2, reg.wait(t), "%s", reg)
	require.Contains(t, reg.stderr.String(), "--verify and --server")

	// A version whose servers never get healthy: the job fails, and so does the command.
	bad := w.register("debian-12-bad")
	e, err := w.cat.Latest(t.Context(), "debian-12")
	require.NoError(t, err)
	require.Equal(t, bad, e.Version.String())
	_, err = w.os.UpdateImage(t.Context(), e.Image.ID, openstack.ImageUpdate{SetProperties: map[string]string{"remint_workload_health": "unhealthy"}})
	require.NoError(t, err)
	plan := w.start(w.tokenEnv(), "rebuild", "web", "--server", url, "--dry-run")
	require.Equal(t, 0, plan.wait(t), "%s", plan)
	require.Contains(t, plan.stdout.String(), bad)
	failed := w.start(w.tokenEnv(), "rebuild", "web", "--server", url, "--output", "json")
	require.Equal(t, 1, failed.wait(t), "%s", failed)
	lines := splitLines(failed.stdout.String())
	var last struct {
		Type string `json:"type"`
		Job  struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"job"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	require.Equal(t, "summary", last.Type)
	require.Equal(t, "failed", last.Job.Status)
	require.Contains(t, failed.stderr.String(), "failed")
	w.assertServing(first)

	// revoke through the daemon: "latest" points back to the good version, and the
	// daemon's log names the token that asked (a revocation leaves no job record).
	rv := w.start(w.tokenEnv(), "image", "revoke", "debian-12", bad, "--server", url)
	require.Equal(t, 2, rv.wait(t), "%s", rv)
	require.Contains(t, rv.stderr.String(), "--reason is required")
	rv = w.start(w.tokenEnv(), "image", "revoke", "debian-12", bad, "--reason", "servers never get healthy", "--server", url)
	require.Equal(t, 0, rv.wait(t), "%s", rv)
	e, err = w.cat.Latest(t.Context(), "debian-12")
	require.NoError(t, err)
	require.NotEqual(t, bad, e.Version.String(), "latest re-points to a good version")
	require.Eventually(t, func() bool {
		return strings.Contains(daemon.stderr.String(), "api write") && strings.Contains(daemon.stderr.String(), "/v1/images/debian-12/"+bad+"/revoke")
	}, 10*time.Second, 50*time.Millisecond, "the daemon logs the write with its token: %s", daemon)
	require.Contains(t, daemon.stderr.String(), `"token":"admin"`, "the token's name")
	require.NotContains(t, daemon.stderr.String(), w.token(), "never the secret")
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
