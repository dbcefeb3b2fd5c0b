package catalog

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
)

func TestVersionLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	c := New(g)
	want, err := ParseVersion("2099.01.1")
	require.NoError(t, err)

	_, err = c.Version(ctx, "debian-12", want)
	require.ErrorIs(t, err, ErrUnknownVersion)
	require.EqualError(t, err, "family debian-12 has no version 2099.01.1: its catalog is empty (register one with: remint image register debian-12 IMAGE)")

	a, b := g.add("deb-a", nil), g.add("deb-b", nil)
	_, _, err = c.Register(ctx, "debian-12", a, nov)
	require.NoError(t, err)
	_, _, err = c.Register(ctx, "debian-12", b, nov)
	require.NoError(t, err)

	_, err = c.Version(ctx, "debian-12", want)
	var uv *UnknownVersionError
	require.ErrorAs(t, err, &uv)
	require.Equal(t, "debian-12", uv.Family)
	require.EqualError(t, err, "family debian-12 has no version 2099.01.1 (versions: 2026.11.2, 2026.11.1)")

	// Resolve (what a rebuild boots from) says the same, recognisably.
	_, err = c.Resolve(ctx, "debian-12", "2099.01.1")
	require.ErrorIs(t, err, ErrUnknownVersion)
	require.ErrorContains(t, err, "versions: 2026.11.2, 2026.11.1")

	// Revoked versions are found (to show them) but Resolve refuses to boot them.
	_, err = c.Revoke(ctx, "debian-12", "2026.11.2", "bad", nov)
	require.NoError(t, err)
	v2, _ := ParseVersion("2026.11.2")
	e, err := c.Version(ctx, "debian-12", v2)
	require.NoError(t, err)
	require.Equal(t, b, e.Image.ID)
	require.Equal(t, Revoked, e.State)
	_, err = c.Resolve(ctx, "debian-12", "2026.11.2")
	require.ErrorContains(t, err, "is revoked")
	require.False(t, errors.Is(err, ErrUnknownVersion))
}

func TestFindImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	one := g.add("one", nil)
	twinA, twinB := g.add("twin", nil), g.add("twin", nil)

	img, err := FindImage(ctx, g, one)
	require.NoError(t, err)
	require.Equal(t, "one", img.Name)
	img, err = FindImage(ctx, g, "one")
	require.NoError(t, err)
	require.Equal(t, one, img.ID)

	_, err = FindImage(ctx, g, "none")
	require.ErrorIs(t, err, ErrImageNotFound)
	require.EqualError(t, err, `no image has the id or name "none"`)

	_, err = FindImage(ctx, g, "twin")
	require.ErrorIs(t, err, ErrAmbiguousImage)
	require.EqualError(t, err, `2 images are named "twin"; give the id of one: `+twinA+", "+twinB)
}

// servers is a fixed server list.
type servers []openstack.Server

func (s servers) ListServers(context.Context, openstack.ListServersOpts) ([]openstack.Server, error) {
	return s, nil
}

type failingServers struct{}

func (failingServers) ListServers(context.Context, openstack.ListServersOpts) ([]openstack.Server, error) {
	return nil, errors.New("HTTP 503")
}

func TestImagesInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	got, err := ImagesInUse(ctx, servers{{ID: "s1", ImageID: "img-a"}, {ID: "s2", ImageID: "img-a"}, {ID: "s3", ImageID: "img-b"}, {ID: "volume-booted"}})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"img-a": true, "img-b": true}, got)

	_, err = ImagesInUse(ctx, failingServers{})
	require.EqualError(t, err, "list servers to find the images in use: HTTP 503")
}
