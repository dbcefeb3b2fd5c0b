package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gopherClient returns a gophercloud service client for the service under prefix
// ("image" → /image/v2/, "network" → /network/v2.0/) using the env's token, laid out as
// gophercloud's NewImageV2/NewNetworkV2 lay it out from the catalog endpoint.
func (e *gnEnv) gopherClient(prefix, version string) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{HTTPClient: *e.client}
	pc.SetToken(e.token)
	endpoint := e.s.BaseURL() + "/" + prefix + "/"
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, ResourceBase: endpoint + version + "/", Type: prefix}
}

// TestGlanceWithGophercloud drives the image API with the client remint uses: create,
// upload, patch, and a paged, filtered list that follows Glance's next links.
func TestGlanceWithGophercloud(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	ctx := context.Background()
	c := e.gopherClient("image", "v2")

	var ids []string
	for i := 0; i < 5; i++ {
		img, err := images.Create(ctx, c, images.CreateOpts{
			Name: fmt.Sprintf("gc-%d", i), ContainerFormat: "bare", DiskFormat: "raw",
			Tags: []string{"remint"}, Properties: map[string]string{"remint_family": "gc"},
		}).Extract()
		require.NoError(t, err)
		assert.Equal(t, images.ImageStatusQueued, img.Status)
		assert.Equal(t, "gc", img.Properties["remint_family"])
		ids = append(ids, img.ID)
	}
	require.NoError(t, imagedata.Upload(ctx, c, ids[0], bytes.NewReader([]byte("bits"))).ExtractErr())
	img, err := images.Get(ctx, c, ids[0]).Extract()
	require.NoError(t, err)
	assert.Equal(t, images.ImageStatusActive, img.Status)
	assert.EqualValues(t, 4, img.SizeBytes)
	rd, err := imagedata.Download(ctx, c, ids[0]).Extract()
	require.NoError(t, err)
	data, err := io.ReadAll(rd)
	require.NoError(t, err)
	_ = rd.Close()
	assert.Equal(t, "bits", string(data))

	img, err = images.Update(ctx, c, ids[1], images.UpdateOpts{
		images.UpdateImageProperty{Op: images.AddOp, Name: "remint_state", Value: "retired"},
		images.ReplaceImageHidden{NewHidden: true},
		images.ReplaceImageTags{NewTags: []string{"remint", "retired"}},
	}).Extract()
	require.NoError(t, err)
	assert.True(t, img.Hidden)
	assert.Equal(t, "retired", img.Properties["remint_state"])
	assert.Equal(t, []string{"remint", "retired"}, img.Tags)

	// Pages of two, visible images only: 4 images on two full pages; the empty third page
	// Glance's next link leads to ends the listing.
	var got []string
	pages := 0
	err = images.List(c, images.ListOpts{Limit: 2, Tags: []string{"remint"}, Sort: "created_at:desc"}).
		EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
			pages++
			list, err := images.ExtractImages(p)
			for _, im := range list {
				got = append(got, im.ID)
			}
			return true, err
		})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ids[0], ids[2], ids[3], ids[4]}, got)
	assert.Equal(t, 2, pages)
	assert.EqualValues(t, 3, e.s.Calls()["image.image.list"])

	all, err := images.List(c, images.ListOpts{Hidden: true}).AllPages(ctx)
	require.NoError(t, err)
	hidden, err := images.ExtractImages(all)
	require.NoError(t, err)
	require.Len(t, hidden, 1)
	assert.Equal(t, ids[1], hidden[0].ID)

	require.NoError(t, images.Delete(ctx, c, ids[4]).ExtractErr())
	_, err = images.Get(ctx, c, ids[4]).Extract()
	assert.True(t, gophercloud.ResponseCodeIs(err, 404), "%v", err)
}
