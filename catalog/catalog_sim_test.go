package catalog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// simCloud starts a seeded simulator and connects the real adapter to it over HTTP.
func simCloud(t *testing.T) (*openstack.Client, context.Context) {
	t.Helper()
	c := simclient.Start(t, simclient.Options{Sim: sim.Config{BootTime: 10 * time.Millisecond, ImageSaveTime: 10 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c.Client, ctx
}

// uploadImage creates an active Glance image the way Packer would: a record, then data.
func uploadImage(t *testing.T, ctx context.Context, c *openstack.Client, name string) string {
	t.Helper()
	img, err := c.CreateImage(ctx, openstack.ImageCreate{Name: name})
	require.NoError(t, err)
	require.NoError(t, c.UploadImage(ctx, img.ID, strings.NewReader("disk of "+name)))
	got, err := c.WaitImageActive(ctx, img.ID)
	require.NoError(t, err)
	require.Equal(t, "active", got.Status)
	return img.ID
}

// TestCatalogOnSimulator drives the catalog's whole lifecycle through the real adapter
// against the simulator's Glance and checks what Glance holds after each step.
func TestCatalogOnSimulator(t *testing.T) {
	t.Parallel()
	c, ctx := simCloud(t)
	cat := catalog.New(c)
	const fam = "debian-12"
	now := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)

	_, err := cat.Latest(ctx, fam)
	require.ErrorIs(t, err, catalog.ErrNoActiveImage)

	// Register three builds; each becomes active and deprecates the previous one.
	var ids []string
	for i, name := range []string{"deb-a", "deb-b", "deb-c"} {
		id := uploadImage(t, ctx, c, name)
		ids = append(ids, id)
		e, notes, err := cat.Register(ctx, fam, id, now.Add(time.Duration(i)*24*time.Hour))
		require.NoError(t, err)
		wantV := catalog.Version{Year: 2026, Month: 11, N: i + 1}
		require.Equal(t, wantV, e.Version)
		require.Equal(t, catalog.Active, e.State)
		require.Contains(t, notes[0], "registered as debian-12 "+wantV.String()+" (active)")
		if i > 0 {
			require.Len(t, notes, 2)
			require.Contains(t, notes[1], "deprecated")
		}
		img, err := c.GetImage(ctx, id)
		require.NoError(t, err)
		require.Equal(t, fam, img.Properties[catalog.PropFamily])
		require.Equal(t, wantV.String(), img.Properties[catalog.PropVersion])
		require.Equal(t, "active", img.Properties[catalog.PropState])
		require.Contains(t, img.Tags, catalog.Tag)
	}
	_, _, err = cat.Register(ctx, fam, ids[0], now)
	require.ErrorContains(t, err, "already in the catalog")

	latest, err := cat.Latest(ctx, fam)
	require.NoError(t, err)
	require.Equal(t, ids[2], latest.Image.ID)
	entries, err := cat.List(ctx, fam)
	require.NoError(t, err)
	require.Equal(t, []catalog.State{catalog.Active, catalog.Deprecated, catalog.Deprecated}, states(entries))
	require.Equal(t, "2026.11.3", entries[0].Version.String())

	// Revoking the active version deactivates its image and re-points latest.
	notes, err := cat.Revoke(ctx, fam, "2026.11.3", "broken sshd", now.Add(72*time.Hour))
	require.NoError(t, err)
	require.Contains(t, strings.Join(notes, "\n"), "latest debian-12 is now 2026.11.2")
	bad, err := c.GetImage(ctx, ids[2])
	require.NoError(t, err)
	require.Equal(t, "deactivated", bad.Status)
	require.Equal(t, "revoked", bad.Properties[catalog.PropState])
	require.Equal(t, "broken sshd", bad.Properties[catalog.PropRevokedReason])
	latest, err = cat.Latest(ctx, fam)
	require.NoError(t, err)
	require.Equal(t, ids[1], latest.Image.ID)
	_, err = cat.Resolve(ctx, fam, "2026.11.3")
	require.ErrorContains(t, err, "revoked")

	// A fourth build; then a server boots from the oldest version.
	ids = append(ids, uploadImage(t, ctx, c, "deb-d"))
	_, _, err = cat.Register(ctx, fam, ids[3], now.Add(96*time.Hour))
	require.NoError(t, err)
	pet, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "pet", ImageID: ids[0], Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, pet.ID)
	require.NoError(t, err)
	inUse := func(id string) bool {
		servers, err := c.ListServers(ctx, openstack.ListServersOpts{})
		require.NoError(t, err)
		for _, s := range servers {
			if s.ImageID == id {
				return true
			}
		}
		return false
	}

	// A dry run changes nothing.
	dry, err := cat.Retire(ctx, fam, catalog.RetireOptions{Keep: 1, InUse: inUse, DryRun: true}, now.Add(120*time.Hour))
	require.NoError(t, err)
	require.Len(t, dry, 4, "retire 2026.11.2 and 2026.11.1, delete .2, keep .1: %q", dry)
	entries, err = cat.List(ctx, fam)
	require.NoError(t, err)
	require.Equal(t, []catalog.State{catalog.Active, catalog.Revoked, catalog.Deprecated, catalog.Deprecated}, states(entries))

	// Keep 1: both deprecated versions are retired and hidden; the unused one is deleted,
	// the one the server boots from stays.
	notes, err = cat.Retire(ctx, fam, catalog.RetireOptions{Keep: 1, InUse: inUse}, now.Add(120*time.Hour))
	require.NoError(t, err)
	require.Equal(t, dry, notes, "the dry run said what the real run did")
	_, err = c.GetImage(ctx, ids[1])
	require.True(t, openstack.IsNotFound(err), "unused retired image deleted: %v", err)
	kept, err := c.GetImage(ctx, ids[0])
	require.NoError(t, err)
	require.True(t, kept.Hidden)
	require.Equal(t, "retired", kept.Properties[catalog.PropState])
	require.Equal(t, "active", kept.Status, "an image in use stays bootable for the server's rebuilds")
	visible, err := c.ListImages(ctx, openstack.ListImagesOpts{Properties: map[string]string{catalog.PropFamily: fam}})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{ids[2], ids[3]}, imageIDs(visible), "retired images are hidden from default listings")
	entries, err = cat.List(ctx, fam)
	require.NoError(t, err)
	require.Equal(t, []catalog.State{catalog.Active, catalog.Revoked, catalog.Retired}, states(entries))

	// Once the server is gone, the next retire deletes the retired image.
	require.NoError(t, c.DeleteServer(ctx, pet.ID))
	require.NoError(t, c.WaitServerDeleted(ctx, pet.ID))
	notes, err = cat.Retire(ctx, fam, catalog.RetireOptions{Keep: 1, InUse: inUse}, now.Add(144*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []string{"debian-12 2026.11.1 (image " + ids[0] + ") deleted: retired and unused"}, notes)
	_, err = c.GetImage(ctx, ids[0])
	require.True(t, openstack.IsNotFound(err), "retired image deleted once unused: %v", err)
	latest, err = cat.Latest(ctx, fam)
	require.NoError(t, err)
	require.Equal(t, ids[3], latest.Image.ID)
}

func states(entries []catalog.Entry) []catalog.State {
	out := make([]catalog.State, len(entries))
	for i, e := range entries {
		out[i] = e.State
	}
	return out
}

func imageIDs(imgs []openstack.Image) []string {
	out := make([]string, len(imgs))
	for i, im := range imgs {
		out[i] = im.ID
	}
	return out
}

// TestRetireFinishesInterruptedRetirement: a run that marked an image retired but stopped
// before hiding it (crash, failed PATCH) is finished by the next run.
func TestRetireFinishesInterruptedRetirement(t *testing.T) {
	t.Parallel()
	c, ctx := simCloud(t)
	cat := catalog.New(c)
	now := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)
	a := uploadImage(t, ctx, c, "deb-a")
	b := uploadImage(t, ctx, c, "deb-b")
	for _, id := range []string{a, b} {
		_, _, err := cat.Register(ctx, "debian-12", id, now)
		require.NoError(t, err)
	}
	// What the interrupted run left: marked retired, still listed.
	_, err := c.UpdateImage(ctx, a, openstack.ImageUpdate{SetProperties: map[string]string{catalog.PropState: "retired"}})
	require.NoError(t, err)
	inUse := func(id string) bool { return id == a }
	want := []string{
		"debian-12 2026.11.1 (image " + a + ") hidden: it was retired but still listed",
		"debian-12 2026.11.1 (image " + a + ") kept: a server still uses it",
	}

	notes, err := cat.Retire(ctx, "debian-12", catalog.RetireOptions{Keep: 1, InUse: inUse, DryRun: true}, now)
	require.NoError(t, err)
	require.Equal(t, want, notes)
	img, err := c.GetImage(ctx, a)
	require.NoError(t, err)
	require.False(t, img.Hidden, "a dry run changes nothing")

	notes, err = cat.Retire(ctx, "debian-12", catalog.RetireOptions{Keep: 1, InUse: inUse}, now)
	require.NoError(t, err)
	require.Equal(t, want, notes)
	img, err = c.GetImage(ctx, a)
	require.NoError(t, err)
	require.True(t, img.Hidden)

	notes, err = cat.Retire(ctx, "debian-12", catalog.RetireOptions{Keep: 1, InUse: inUse}, now)
	require.NoError(t, err)
	require.Equal(t, want[1:], notes, "nothing left to finish")
}

// racingImages is a Glance on which another run (a second `image retire`, the daemon's
// retention job) deletes each image just before this run marks or hides it.
type racingImages struct {
	*openstack.Client
	update int // the update call (1: mark retired, 2: hide) the other run deletes before
	calls  map[string]int
}

func (r racingImages) UpdateImage(ctx context.Context, id string, u openstack.ImageUpdate) (openstack.Image, error) {
	r.calls[id]++
	if r.calls[id] == r.update {
		_ = r.Client.DeleteImage(ctx, id)
	}
	return r.Client.UpdateImage(ctx, id, u)
}

// Two retires at once: the images the other one deleted first are done, not an error, and
// the rest of the family is still retired.
func TestRetireTwoAtOnce(t *testing.T) {
	t.Parallel()
	for _, on := range []int{1, 2} {
		t.Run(map[int]string{1: "before the mark", 2: "before the hide"}[on], func(t *testing.T) {
			t.Parallel()
			c, ctx := simCloud(t)
			now := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)
			var ids []string
			for _, name := range []string{"deb-a", "deb-b", "deb-c"} {
				id := uploadImage(t, ctx, c, name)
				_, _, err := catalog.New(c).Register(ctx, "debian-12", id, now)
				require.NoError(t, err)
				ids = append(ids, id)
			}
			notes, err := catalog.New(racingImages{c, on, map[string]int{}}).Retire(ctx, "debian-12",
				catalog.RetireOptions{Keep: 1, InUse: func(string) bool { return false }}, now)
			require.NoError(t, err, "notes: %q", notes)
			for _, v := range []string{"2026.11.2 (image " + ids[1], "2026.11.1 (image " + ids[0]} {
				require.Contains(t, strings.Join(notes, "\n"), "debian-12 "+v+") already deleted by another run")
			}
			for _, id := range ids[:2] {
				_, err := c.GetImage(ctx, id)
				require.ErrorIs(t, err, openstack.ErrNotFound)
			}
			e, err := catalog.New(c).Latest(ctx, "debian-12")
			require.NoError(t, err)
			require.Equal(t, ids[2], e.Image.ID, "the active version is untouched")
		})
	}
}
