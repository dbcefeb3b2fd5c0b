package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

const imageTestManifest = `cloud: remint-sim
state: state/remint.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
    retention: 2
  ubuntu-24:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: ubuntu
`

// imageTestCloud starts a seeded simulator (API objects only), points clouds.yaml at it
// and writes the manifest; it returns the manifest path and an adapter client.
func imageTestCloud(t *testing.T) (string, *openstack.Client, context.Context) {
	t.Helper()
	c := simclient.Start(t, simclient.Options{Sim: sim.Config{BootTime: 10 * time.Millisecond, ImageSaveTime: 10 * time.Millisecond}, SetEnv: true})
	mf := filepath.Join(t.TempDir(), "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(imageTestManifest), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return mf, c.Client, ctx
}

// packerImage uploads an active image the way an external builder would.
func packerImage(t *testing.T, ctx context.Context, c *openstack.Client, name string) string {
	t.Helper()
	img, err := c.CreateImage(ctx, openstack.ImageCreate{Name: name})
	require.NoError(t, err)
	require.NoError(t, c.UploadImage(ctx, img.ID, strings.NewReader("disk "+name)))
	_, err = c.WaitImageActive(ctx, img.ID)
	require.NoError(t, err)
	return img.ID
}

func requireUsage(t *testing.T, err error, contains ...string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, exitUsage, validateExitCode(err), "want a usage error (exit 2), got %v", err)
	for _, c := range contains {
		require.ErrorContains(t, err, c)
	}
}

// TestImageCommandsOnSimulator runs the image commands the way a user does, against a
// seeded simulator, and checks both their output and what Glance holds afterwards. Not
// parallel: the commands read the global log flags.
func TestImageCommandsOnSimulator(t *testing.T) {
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	mf, c, ctx := imageTestCloud(t)
	clock := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	opts := func(output string) imageOptions {
		return imageOptions{file: mf, output: output, now: func() time.Time { return clock }}
	}
	var out, errOut bytes.Buffer
	run := func(f func() error) string {
		t.Helper()
		out.Reset()
		require.NoError(t, f(), errOut.String())
		return out.String()
	}

	a := packerImage(t, ctx, c, "deb-a")
	b := packerImage(t, ctx, c, "deb-b")
	dup1 := packerImage(t, ctx, c, "twin")
	dup2 := packerImage(t, ctx, c, "twin")

	// Input errors are usage errors and change nothing.
	requireUsage(t, runImageRegister(ctx, &out, &errOut, "centos-9", a, opts("text")), `family "centos-9" is not in`, "families: debian-12, ubuntu-24")
	requireUsage(t, runImageRegister(ctx, &out, &errOut, "debian-12", "twin", opts("text")), `2 images are named "twin"`, dup1, dup2)
	requireUsage(t, runImageRegister(ctx, &out, &errOut, "debian-12", "no-such-image", opts("text")), `no image has the id or name "no-such-image"`)
	requireUsage(t, runImageRegister(ctx, &out, &errOut, "debian-12", a, opts("yaml")), "--output")
	img, err := c.GetImage(ctx, a)
	require.NoError(t, err)
	require.Empty(t, img.Properties[catalog.PropFamily])

	// Register by name, then by id: the second deprecates the first.
	got := run(func() error { return runImageRegister(ctx, &out, &errOut, "debian-12", "deb-a", opts("text")) })
	require.Equal(t, "image "+a+" registered as debian-12 2026.11.1 (active)\n", got)
	clock = clock.Add(24 * time.Hour)
	got = run(func() error { return runImageRegister(ctx, &out, &errOut, "debian-12", b, opts("json")) })
	var change changeView
	require.NoError(t, json.Unmarshal([]byte(got), &change))
	require.Equal(t, "2026.11.2", change.Entry.Version)
	require.Equal(t, "active", change.Entry.State)
	require.Equal(t, b, change.Entry.ImageID)
	require.Equal(t, []string{
		"image " + b + " registered as debian-12 2026.11.2 (active)",
		"debian-12 2026.11.1 (image " + a + ") deprecated",
	}, change.Notes)
	img, err = c.GetImage(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "deprecated", img.Properties[catalog.PropState])

	// Registering an image twice is refused by the catalog: a failure, not a usage error.
	err = runImageRegister(ctx, &out, &errOut, "ubuntu-24", a, opts("text"))
	require.ErrorContains(t, err, "already in the catalog")
	require.Equal(t, exitFailure, validateExitCode(err))

	// list: a table of every manifest family, and JSON.
	got = run(func() error { return runImageList(ctx, &out, &errOut, "", opts("text")) })
	lines := strings.Split(strings.TrimSpace(got), "\n")
	require.Len(t, lines, 3, got)
	require.Equal(t, []string{"FAMILY", "VERSION", "STATE", "IMAGE", "ID", "NAME", "CREATED"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"debian-12", "2026.11.2", "active", b, "deb-b"}, strings.Fields(lines[1])[:5])
	require.Equal(t, []string{"debian-12", "2026.11.1", "deprecated", a, "deb-a"}, strings.Fields(lines[2])[:5])
	got = run(func() error { return runImageList(ctx, &out, &errOut, "ubuntu-24", opts("text")) })
	require.Contains(t, got, "no catalog images in ubuntu-24")
	got = run(func() error { return runImageList(ctx, &out, &errOut, "debian-12", opts("json")) })
	var listed []entryView
	require.NoError(t, json.Unmarshal([]byte(got), &listed))
	require.Len(t, listed, 2)
	require.Equal(t, b, listed[0].ImageID)
	require.False(t, listed[0].Created.IsZero())
	requireUsage(t, runImageList(ctx, &out, &errOut, "nope", opts("text")), `family "nope"`)

	// show: latest by default, any version by number, bad versions are usage errors.
	got = run(func() error { return runImageShow(ctx, &out, &errOut, "debian-12", "latest", opts("text")) })
	require.Regexp(t, `(?m)^version: +2026\.11\.2$`, got)
	require.Regexp(t, `(?m)^image id: +`+b+`$`, got)
	require.Regexp(t, `(?m)^remint_registered_at: +2026-11-03T02:00:00Z$`, got)
	got = run(func() error { return runImageShow(ctx, &out, &errOut, "debian-12", "2026.11.1", opts("json")) })
	var shown entryView
	require.NoError(t, json.Unmarshal([]byte(got), &shown))
	require.Equal(t, "deprecated", shown.State)
	require.Equal(t, a, shown.ImageID)
	requireUsage(t, runImageShow(ctx, &out, &errOut, "debian-12", "11", opts("text")), "want YYYY.MM.N")
	requireUsage(t, runImageShow(ctx, &out, &errOut, "debian-12", "2026.10.1", opts("text")), "versions: 2026.11.2, 2026.11.1")
	err = runImageShow(ctx, &out, &errOut, "ubuntu-24", "latest", opts("text"))
	require.ErrorIs(t, err, catalog.ErrNoActiveImage)
	require.Equal(t, exitUsage, exitCode(err), "latest of a family without an active version is unknown, as the daemon's 404 says: %v", err)

	// revoke: needs a reason; re-points latest and deactivates the image in Glance.
	requireUsage(t, runImageRevoke(ctx, &out, &errOut, "debian-12", "2026.11.2", imageRevokeOptions{imageOptions: opts("text")}), "--reason is required")
	requireUsage(t, runImageRevoke(ctx, &out, &errOut, "debian-12", "2026.11.7", imageRevokeOptions{imageOptions: opts("text"), reason: "x"}), "no version 2026.11.7")
	got = run(func() error {
		return runImageRevoke(ctx, &out, &errOut, "debian-12", "2026.11.2", imageRevokeOptions{imageOptions: opts("text"), reason: "kernel panic on boot"})
	})
	require.Equal(t, "debian-12 2026.11.2 (image "+b+") revoked: kernel panic on boot\n"+
		"image "+b+" deactivated\n"+
		"latest debian-12 is now 2026.11.1 (image "+a+") again\n", got)
	img, err = c.GetImage(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "deactivated", img.Status)
	require.Equal(t, "revoked", img.Properties[catalog.PropState])
	got = run(func() error { return runImageShow(ctx, &out, &errOut, "debian-12", "latest", opts("json")) })
	require.NoError(t, json.Unmarshal([]byte(got), &shown))
	require.Equal(t, a, shown.ImageID)

	// Two more builds (d active, c and a deprecated); a server still boots from a.
	cID := packerImage(t, ctx, c, "deb-c")
	d := packerImage(t, ctx, c, "deb-d")
	clock = clock.Add(24 * time.Hour)
	run(func() error { return runImageRegister(ctx, &out, &errOut, "debian-12", cID, opts("text")) })
	run(func() error { return runImageRegister(ctx, &out, &errOut, "debian-12", d, opts("text")) })
	srv, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "web-0", ImageID: a, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, srv.ID)
	require.NoError(t, err)

	// retire, dry run, keep = the family's retention (2): a is beyond it but in use.
	retire := func(keep int, dry bool, output string) imageRetireOptions {
		return imageRetireOptions{imageOptions: opts(output), keep: keep, dryRun: dry}
	}
	got = run(func() error { return runImageRetire(ctx, &out, &errOut, "debian-12", retire(0, true, "text")) })
	require.Equal(t, "dry run (keep 2): nothing was changed; retire would do this:\n"+
		"debian-12 2026.11.1 (image "+a+") retired: beyond retention of 2\n"+
		"debian-12 2026.11.1 (image "+a+") kept: a server still uses it\n", got)
	img, err = c.GetImage(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "deprecated", img.Properties[catalog.PropState])
	require.False(t, img.Hidden)

	// retire --keep 1: c is retired and deleted (unused), a retired and hidden but kept.
	got = run(func() error { return runImageRetire(ctx, &out, &errOut, "debian-12", retire(1, false, "json")) })
	require.NoError(t, json.Unmarshal([]byte(got), &change))
	require.Equal(t, []string{
		"debian-12 2026.11.3 (image " + cID + ") retired: beyond retention of 1",
		"debian-12 2026.11.3 (image " + cID + ") deleted: retired and unused",
		"debian-12 2026.11.1 (image " + a + ") retired: beyond retention of 1",
		"debian-12 2026.11.1 (image " + a + ") kept: a server still uses it",
	}, change.Notes)
	_, err = c.GetImage(ctx, cID)
	require.True(t, openstack.IsNotFound(err), "unused retired image deleted: %v", err)
	img, err = c.GetImage(ctx, a)
	require.NoError(t, err)
	require.True(t, img.Hidden)
	require.Equal(t, "retired", img.Properties[catalog.PropState])
	require.Equal(t, "active", img.Status)
	got = run(func() error { return runImageList(ctx, &out, &errOut, "debian-12", opts("json")) })
	require.NoError(t, json.Unmarshal([]byte(got), &listed))
	require.Len(t, listed, 3, "retired images are listed too")
	require.True(t, listed[2].Hidden)

	// Nothing left to retire beyond the kept, in-use image.
	got = run(func() error { return runImageRetire(ctx, &out, &errOut, "debian-12", retire(1, false, "text")) })
	require.Equal(t, "debian-12 2026.11.1 (image "+a+") kept: a server still uses it\n", got)
	got = run(func() error { return runImageRetire(ctx, &out, &errOut, "ubuntu-24", retire(0, true, "text")) })
	require.Equal(t, "dry run: ubuntu-24 has nothing to retire (keep 3)\n", got, "default retention of a family without one")
	requireUsage(t, runImageRetire(ctx, &out, &errOut, "debian-13", retire(0, false, "text")), `family "debian-13"`)
}

// TestImageCommandLine checks argument handling through the real root command: the
// errors main turns into exit 2, and help with examples.
func TestImageCommandLine(t *testing.T) {
	mf, _, _ := imageTestCloud(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"register needs an image", []string{"image", "register", "debian-12"}, "give the image to register"},
		{"register unknown family", []string{"image", "register", "nope", "x", "-f", mf}, `family "nope" is not in`},
		{"revoke without reason", []string{"image", "revoke", "debian-12", "2026.11.1", "-f", mf}, "--reason is required"},
		{"revoke bad version", []string{"image", "revoke", "debian-12", "latest", "--reason", "x", "-f", mf}, `version "latest"`},
		{"retire keep 0", []string{"image", "retire", "debian-12", "--keep", "0", "-f", mf}, "--keep 0"},
		{"show too many args", []string{"image", "show", "debian-12", "2026.11.1", "x", "-f", mf}, "accepts between 1 and 2 arg(s)"},
		{"list bad output", []string{"image", "list", "-o", "yaml", "-f", mf}, `--output "yaml"`},
		{"missing manifest", []string{"image", "list", "-f", filepath.Join(t.TempDir(), "none.yaml")}, "manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := validateRun(t, tc.args...)
			requireUsage(t, err, tc.want)
		})
	}

	out, _, err := validateRun(t, "image", "register", "--help")
	require.NoError(t, err)
	require.Contains(t, out, "remint image register debian-12")
	require.Contains(t, out, "--output")

	// A well-formed command runs end to end through cobra.
	out, errOut, err := validateRun(t, "image", "list", "debian-12", "-f", mf, "--log-level", "error")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "no catalog images in debian-12")
}
