package sim

import (
	"context"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNeutronWithGophercloud moves a floating IP between two ports with the client remint
// uses, including the revision-constrained update and the 412 on a stale revision.
func TestNeutronWithGophercloud(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	ctx := context.Background()
	c := e.gopherClient("network", "v2.0")

	pages, err := networks.List(c, networks.ListOpts{Limit: 1}).AllPages(ctx)
	require.NoError(t, err)
	nets, err := networks.ExtractNetworks(pages)
	require.NoError(t, err)
	assert.Len(t, nets, 2, "paged one by one through networks_links")

	var portIDs, fixed []string
	for _, dev := range []string{"blue", "green"} {
		p, err := ports.Create(ctx, c, ports.CreateOpts{NetworkID: e.seed.PrivateNetworkID, Name: dev, DeviceID: dev}).Extract()
		require.NoError(t, err)
		portIDs = append(portIDs, p.ID)
		fixed = append(fixed, p.FixedIPs[0].IPAddress)
	}
	pages, err = ports.List(c, ports.ListOpts{DeviceID: "green"}).AllPages(ctx)
	require.NoError(t, err)
	got, err := ports.ExtractPorts(pages)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, portIDs[1], got[0].ID)

	fip, err := floatingips.Create(ctx, c, floatingips.CreateOpts{
		FloatingNetworkID: e.seed.PublicNetworkID, PortID: portIDs[0], Description: "web"}).Extract()
	require.NoError(t, err)
	assert.Equal(t, fixed[0], fip.FixedIP)
	assert.Equal(t, 0, fip.RevisionNumber)

	rev := fip.RevisionNumber
	fip, err = floatingips.Update(ctx, c, fip.ID, floatingips.UpdateOpts{PortID: &portIDs[1], RevisionNumber: &rev}).Extract()
	require.NoError(t, err)
	assert.Equal(t, fixed[1], fip.FixedIP)
	assert.Equal(t, portIDs[1], fip.PortID)

	_, err = floatingips.Update(ctx, c, fip.ID, floatingips.UpdateOpts{PortID: &portIDs[0], RevisionNumber: &rev}).Extract()
	assert.True(t, gophercloud.ResponseCodeIs(err, 412), "%v", err)

	// gophercloud disassociates with a pointer to "" (sent as null); a nil PortID leaves
	// the association alone.
	fip, err = floatingips.Update(ctx, c, fip.ID, floatingips.UpdateOpts{}).Extract()
	require.NoError(t, err)
	assert.Equal(t, portIDs[1], fip.PortID)
	none := ""
	fip, err = floatingips.Update(ctx, c, fip.ID, floatingips.UpdateOpts{PortID: &none}).Extract()
	require.NoError(t, err)
	assert.Equal(t, "", fip.PortID)
	assert.Equal(t, []fipChange{{fip.FloatingIP, fixed[0]}, {fip.FloatingIP, fixed[1]}, {fip.FloatingIP, ""}}, e.drv.setCalls())

	pages, err = floatingips.List(c, floatingips.ListOpts{Description: "web"}).AllPages(ctx)
	require.NoError(t, err)
	fips, err := floatingips.ExtractFloatingIPs(pages)
	require.NoError(t, err)
	require.Len(t, fips, 1)

	require.NoError(t, floatingips.Delete(ctx, c, fip.ID).ExtractErr())
	_, err = floatingips.Get(ctx, c, fip.ID).Extract()
	assert.True(t, gophercloud.ResponseCodeIs(err, 404), "%v", err)
}
