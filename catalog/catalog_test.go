package catalog

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/stretchr/testify/require"
)

// fakeGlance is an in-memory Glance with real state: enough of the API for the catalog.
type fakeGlance struct {
	mu     sync.Mutex
	images map[string]*openstack.Image
	n      int
}

func newFakeGlance() *fakeGlance { return &fakeGlance{images: map[string]*openstack.Image{}} }

func (g *fakeGlance) add(name string, props map[string]string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	id := fmt.Sprintf("img-%02d", g.n)
	g.images[id] = &openstack.Image{ID: id, Name: name, Status: "active", Properties: maps.Clone(props)}
	if g.images[id].Properties == nil {
		g.images[id].Properties = map[string]string{}
	}
	return id
}

func (g *fakeGlance) ListImages(_ context.Context, o openstack.ListImagesOpts) ([]openstack.Image, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []openstack.Image
	for _, id := range slices.Sorted(maps.Keys(g.images)) {
		img := g.images[id]
		if img.Hidden && !o.IncludeHidden {
			continue
		}
		ok := o.Name == "" || img.Name == o.Name
		for k, v := range o.Properties {
			ok = ok && img.Properties[k] == v
		}
		if ok {
			out = append(out, clone(img))
		}
	}
	return out, nil
}

func clone(img *openstack.Image) openstack.Image {
	c := *img
	c.Properties = maps.Clone(img.Properties)
	c.Tags = slices.Clone(img.Tags)
	return c
}

func (g *fakeGlance) GetImage(_ context.Context, id string) (openstack.Image, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	img, ok := g.images[id]
	if !ok {
		return openstack.Image{}, fmt.Errorf("image %s: %w", id, openstack.ErrNotFound)
	}
	return clone(img), nil
}

func (g *fakeGlance) UpdateImage(_ context.Context, id string, u openstack.ImageUpdate) (openstack.Image, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	img, ok := g.images[id]
	if !ok {
		return openstack.Image{}, fmt.Errorf("image %s: not found", id)
	}
	maps.Copy(img.Properties, u.SetProperties)
	for _, k := range u.RemoveProperties {
		delete(img.Properties, k)
	}
	if u.Tags != nil {
		img.Tags = slices.Clone(*u.Tags)
	}
	if u.Hidden != nil {
		img.Hidden = *u.Hidden
	}
	return clone(img), nil
}

func (g *fakeGlance) DeactivateImage(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.images[id].Status = "deactivated"
	return nil
}

func (g *fakeGlance) DeleteImage(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.images, id)
	return nil
}

func (g *fakeGlance) state(id string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if img, ok := g.images[id]; ok {
		return img.Properties[PropState]
	}
	return "deleted"
}

var (
	nov = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	dec = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
)

func TestRegisterDeprecatesPreviousAndVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	c := New(g)

	_, err := c.Latest(ctx, "debian-12")
	require.ErrorIs(t, err, ErrNoActiveImage)

	a := g.add("build-a", nil)
	e, notes, err := c.Register(ctx, "debian-12", a, nov)
	require.NoError(t, err)
	require.Equal(t, "2026.11.1", e.Version.String())
	require.Equal(t, []string{"image img-01 registered as debian-12 2026.11.1 (active)"}, notes)
	require.Contains(t, e.Image.Tags, Tag)

	b := g.add("build-b", nil)
	e, notes, err = c.Register(ctx, "debian-12", b, nov)
	require.NoError(t, err)
	require.Equal(t, "2026.11.2", e.Version.String())
	require.Len(t, notes, 2)
	require.Equal(t, "deprecated", g.state(a))

	cc := g.add("build-c", nil)
	e, _, err = c.Register(ctx, "debian-12", cc, dec)
	require.NoError(t, err)
	require.Equal(t, "2026.12.1", e.Version.String())

	latest, err := c.Latest(ctx, "debian-12")
	require.NoError(t, err)
	require.Equal(t, cc, latest.Image.ID)

	_, _, err = c.Register(ctx, "debian-12", cc, dec)
	require.ErrorContains(t, err, "already in the catalog as debian-12 2026.12.1")

	other, err := c.Latest(ctx, "ubuntu-24")
	require.ErrorIs(t, err, ErrNoActiveImage)
	require.Empty(t, other.Image.ID)
}

func TestRegisterRefusesInactiveImage(t *testing.T) {
	t.Parallel()
	g := newFakeGlance()
	id := g.add("x", nil)
	g.images[id].Status = "queued"
	_, _, err := New(g).Register(context.Background(), "debian-12", id, nov)
	require.ErrorContains(t, err, "image status is queued, want active")
}

func TestRevokeRepointsLatest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	c := New(g)
	a := g.add("a", nil)
	b := g.add("b", nil)
	_, _, err := c.Register(ctx, "debian-12", a, nov)
	require.NoError(t, err)
	_, _, err = c.Register(ctx, "debian-12", b, nov)
	require.NoError(t, err)

	notes, err := c.Revoke(ctx, "debian-12", "2026.11.2", "CVE-2026-1234 regression", nov)
	require.NoError(t, err)
	require.Equal(t, []string{
		"debian-12 2026.11.2 (image img-02) revoked: CVE-2026-1234 regression",
		"image img-02 deactivated",
		"latest debian-12 is now 2026.11.1 (image img-01) again",
	}, notes)
	latest, err := c.Latest(ctx, "debian-12")
	require.NoError(t, err)
	require.Equal(t, a, latest.Image.ID)
	_, err = c.Resolve(ctx, "debian-12", "2026.11.2")
	require.ErrorContains(t, err, "is revoked")

	// Revoking the last good one leaves nothing active, and says so.
	notes, err = c.Revoke(ctx, "debian-12", "2026.11.1", "bad too", nov)
	require.NoError(t, err)
	require.Contains(t, notes[len(notes)-1], "nothing is active now")
	_, err = c.Latest(ctx, "debian-12")
	require.ErrorIs(t, err, ErrNoActiveImage)
}

func TestRetireNeverDeletesImagesInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	c := New(g)
	var ids []string
	for i := 0; i < 5; i++ {
		id := g.add(fmt.Sprintf("v%d", i), nil)
		_, _, err := c.Register(ctx, "debian-12", id, nov)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	inUse := func(id string) bool { return id == ids[0] }

	dry, err := c.Retire(ctx, "debian-12", RetireOptions{Keep: 3, InUse: inUse, DryRun: true}, nov)
	require.NoError(t, err)
	require.Equal(t, "deprecated", g.state(ids[1]), "dry run changes nothing")

	notes, err := c.Retire(ctx, "debian-12", RetireOptions{Keep: 3, InUse: inUse}, nov)
	require.NoError(t, err)
	require.Equal(t, dry, notes)
	require.Equal(t, "retired", g.state(ids[0]))
	require.True(t, g.images[ids[0]].Hidden)
	require.Equal(t, "deleted", g.state(ids[1]))
	require.Equal(t, "deprecated", g.state(ids[2]))
	require.Equal(t, "active", g.state(ids[4]))

	// Once the server is gone, the next run deletes it.
	notes, err = c.Retire(ctx, "debian-12", RetireOptions{Keep: 3, InUse: func(string) bool { return false }}, nov)
	require.NoError(t, err)
	require.Equal(t, []string{"debian-12 2026.11.1 (image img-01) deleted: retired and unused"}, notes)

	_, err = c.Retire(ctx, "debian-12", RetireOptions{Keep: 0}, nov)
	require.ErrorContains(t, err, "keep must be at least 1")
}

func TestPromoteCandidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	c := New(g)
	old := g.add("old", nil)
	_, _, err := c.Register(ctx, "debian-12", old, nov)
	require.NoError(t, err)
	cand := g.add("cand", map[string]string{PropFamily: "debian-12", PropVersion: "2026.11.2", PropState: "candidate"})
	_, err = c.Resolve(ctx, "debian-12", "latest")
	require.NoError(t, err)
	e, notes, err := c.Promote(ctx, cand, nov)
	require.NoError(t, err)
	require.Equal(t, Active, e.State)
	require.Len(t, notes, 2)
	require.Equal(t, "deprecated", g.state(old))
	_, _, err = c.Promote(ctx, cand, nov)
	require.ErrorContains(t, err, "cannot go from active to active")
}

func TestVersions(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "2026.11", "2026.13.1", "2026.11.0", "x.y.z", "1999.01.1"} {
		_, err := ParseVersion(bad)
		require.Error(t, err, bad)
	}
	v, err := ParseVersion("2026.11.3")
	require.NoError(t, err)
	require.Equal(t, "2026.11.3", v.String())
	require.Equal(t, Version{2026, 11, 4}, NextVersion(nov, []Version{{2026, 11, 3}, {2026, 10, 9}}))
	require.Equal(t, Version{2026, 12, 1}, NextVersion(dec, []Version{{2026, 11, 3}}))
	require.Equal(t, -1, Version{2026, 9, 5}.Compare(Version{2026, 10, 1}))
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"2026.10.1", "2026.11.1", -1},
		{"2026.11.2", "2026.11.10", -1},
		{"2027.01.1", "2026.12.9", 1},
		{"2026.11.1", "2026.11.1", 0},
	} {
		a, err := ParseVersion(tt.a)
		require.NoError(t, err)
		b, err := ParseVersion(tt.b)
		require.NoError(t, err)
		require.Equal(t, tt.want, a.Compare(b), "%s vs %s", tt.a, tt.b)
	}
	_, err = ParseVersion("a.b.c")
	require.Error(t, err)
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to State
		ok       bool
	}{
		{Candidate, Active, true}, {Active, Deprecated, true}, {Deprecated, Active, true},
		{Deprecated, Retired, true}, {Active, Retired, false}, {Retired, Active, false},
		{Revoked, Active, false}, {Active, Revoked, true}, {Candidate, Deprecated, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.ok, CanTransition(tt.from, tt.to), "%s → %s", tt.from, tt.to)
	}
}
