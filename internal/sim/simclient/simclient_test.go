package simclient_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// The client talks to the seeded simulator, and with SetEnv so does a connection made the
// way the CLI makes it: from the environment and the cloud's name only.
func TestStartConnectsToTheSeededSimulator(t *testing.T) {
	c := simclient.Start(t, simclient.Options{SetEnv: true})

	imgs, err := c.Client.ListImages(t.Context(), openstack.ListImagesOpts{Name: sim.SeedImageName})
	require.NoError(t, err)
	require.Len(t, imgs, 1)
	assert.Equal(t, c.Seed.ImageID, imgs[0].ID)

	assert.Equal(t, c.CloudsFile, os.Getenv("OS_CLIENT_CONFIG_FILE"))
	viaEnv, err := openstack.Connect(t.Context(), openstack.ConnectOptions{Cloud: sim.DefaultCloudName})
	require.NoError(t, err)
	_, err = viaEnv.ListImages(t.Context(), openstack.ListImagesOpts{Name: sim.SeedImageName})
	require.NoError(t, err)
}
