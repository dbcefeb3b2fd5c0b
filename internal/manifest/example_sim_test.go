package manifest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// TestExampleMatchesSeededSim checks that every cloud resource examples/remint.yaml names
// exists in a freshly seeded simulator (remint sim --seed), looked up over real HTTP the
// way remint will: the cloud entry, source images, flavors, networks, and the external
// network addresses are allocated from.
func TestExampleMatchesSeededSim(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulator")
	}
	t.Parallel()
	ctx := t.Context()
	m, err := manifest.Load("../../examples/remint.yaml")
	require.NoError(t, err)

	cl, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: m.Cloud, CloudsFile: simclient.Start(t, simclient.Options{}).CloudsFile})
	require.NoError(t, err, "cloud %q of the example is the simulator's", m.Cloud)

	for _, name := range m.FamilyNames() {
		f := m.Families[name]
		imgs, err := cl.ListImages(ctx, openstack.ListImagesOpts{Name: f.SourceImage})
		require.NoError(t, err)
		assert.Len(t, imgs, 1, "family %s: source image %s", name, f.SourceImage)
		assertFlavorAndNetwork(ctx, t, cl, "family "+name, f.Flavor, f.Network)
	}
	for _, name := range m.GroupNames() {
		g := m.Groups[name]
		assertFlavorAndNetwork(ctx, t, cl, "group "+name, g.Flavor, g.Network)
		for _, a := range g.AddressSlots() {
			if a.AllocateFrom == "" {
				continue
			}
			n, err := cl.GetNetwork(ctx, a.AllocateFrom)
			require.NoError(t, err, "group %s: allocate_from %s", name, a.AllocateFrom)
			assert.True(t, n.External, "group %s: allocate_from %s is an external network", name, a.AllocateFrom)
		}
	}
}

func assertFlavorAndNetwork(ctx context.Context, t *testing.T, cl *openstack.Client, who, flavor, network string) {
	t.Helper()
	_, err := cl.GetFlavor(ctx, flavor)
	assert.NoError(t, err, "%s: flavor %s", who, flavor)
	n, err := cl.GetNetwork(ctx, network)
	if assert.NoError(t, err, "%s: network %s", who, network) {
		assert.False(t, n.External, "%s: servers go on a tenant network", who)
	}
}
