package sim

import (
	"net/http"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNovaMultiCreateWithinQuota(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	s.SetLimits(Limits{MaxInstances: 3, MaxCores: -1, MaxRAM: -1})
	c := ntNewClient(t, s, "2.79")

	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "batch", "imageRef": seed.ImageID, "flavorRef": "1", "networks": "auto",
		"min_count": 2, "max_count": 5,
	}}, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)

	_, body = c.do(http.MethodGet, "/compute/v2.1/servers", nil, nil)
	var names []string
	for _, srv := range body["servers"].([]any) {
		names = append(names, srv.(map[string]any)["name"].(string))
	}
	sort.Strings(names)
	assert.Equal(t, []string{"batch-1", "batch-2", "batch-3"}, names, "as many as the quota allows, named name-N")

	resp, body = c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "more", "imageRef": seed.ImageID, "flavorRef": "1", "networks": "none", "min_count": 1,
	}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, ntErrMessage(body, "forbidden"), "Quota exceeded for instances")

	resp, body = c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "bad", "imageRef": seed.ImageID, "flavorRef": "1", "networks": "none", "min_count": 3, "max_count": 2,
	}}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", body)
}

func TestNovaAmbiguousNetworks(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	s.mu.Lock()
	now := time.Now().UTC()
	n := &Network{ID: newUUID(), Name: "second", ProjectID: s.ident.projectID, AdminStateUp: true,
		Status: "ACTIVE", MTU: 1450, Created: now, Updated: now}
	s.st.networks[n.ID] = n
	s.addSubnetLocked(n, "second-subnet", netip.MustParsePrefix("10.9.0.0/24"))
	s.mu.Unlock()

	c := ntNewClient(t, s, "2.79")
	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "which", "imageRef": seed.ImageID, "flavorRef": "1", "networks": "auto"}}, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "Multiple possible networks found, use a Network ID to be more specific.", ntErrMessage(body, "conflictingRequest"))

	// Both networks on request: two ports, addresses on both.
	id := c.createServer("both", seed.ImageID, map[string]any{"networks": []any{
		map[string]any{"uuid": seed.PrivateNetworkID}, map[string]any{"uuid": n.ID}}})
	srv := c.waitStatus(id, "ACTIVE")
	assert.Len(t, ntPortsOf(s, id), 2)
	addrs := srv["addresses"].(map[string]any)
	require.Contains(t, addrs, "second")
	assert.Equal(t, "10.9.0.2", addrs["second"].([]any)[0].(map[string]any)["addr"])
}

func TestNovaNetworkExhaustionFailsTheBuild(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	s.mu.Lock()
	now := time.Now().UTC()
	n := &Network{ID: newUUID(), Name: "tiny", ProjectID: s.ident.projectID, AdminStateUp: true,
		Status: "ACTIVE", MTU: 1450, Created: now, Updated: now}
	s.st.networks[n.ID] = n
	s.addSubnetLocked(n, "tiny-subnet", netip.MustParsePrefix("10.8.0.0/30")) // one usable host address
	s.mu.Unlock()

	c := ntNewClient(t, s, "2.79")
	nets := map[string]any{"networks": []any{map[string]any{"uuid": n.ID}}}
	first := c.createServer("fits", seed.ImageID, nets)
	second := c.createServer("does-not-fit", seed.ImageID, nets)
	c.waitStatus(first, "ACTIVE")
	srv := c.waitStatus(second, "ERROR")
	assert.Contains(t, srv["fault"].(map[string]any)["message"], "Failed to allocate the network(s)")
	assert.Empty(t, ntPortsOf(s, second))
}

func TestNovaStopStart(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	c := ntNewClient(t, s, "2.79")
	id := c.createServer("halt", seed.ImageID, map[string]any{"networks": "none"})
	action := func(name string) int {
		resp, _ := c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{name: nil}, nil)
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusConflict, action("os-stop"), "cannot stop while building")
	c.waitStatus(id, "ACTIVE")
	assert.Equal(t, http.StatusConflict, action("os-start"), "already running")
	require.Equal(t, http.StatusAccepted, action("os-stop"))
	srv := c.waitStatus(id, "SHUTOFF")
	assert.EqualValues(t, 4, srv["OS-EXT-STS:power_state"])
	assert.Equal(t, "stopped", srv["OS-EXT-STS:vm_state"])

	// A stopped server can be snapshotted, as packer's stop-then-snapshot does.
	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"createImage": map[string]any{"name": "cold"}}, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
	require.Eventually(t, func() bool { _, srv := c.server(id); return srv["OS-EXT-STS:task_state"] == nil }, 5*time.Second, 5*time.Millisecond)

	require.Equal(t, http.StatusAccepted, action("os-start"))
	c.waitStatus(id, "ACTIVE")
}

func TestNovaImageDeactivatedDuringBuild(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{BootTime: 200 * time.Millisecond})
	imageID := ntAddImage(s, "soon-revoked", "active")
	c := ntNewClient(t, s, "2.79")
	id := c.createServer("late", imageID, map[string]any{"networks": "none"})
	s.mu.Lock()
	s.st.images[imageID].Status = "deactivated"
	s.mu.Unlock()
	srv := c.waitStatus(id, "ERROR")
	assert.Equal(t, "Image "+imageID+" is not active.", srv["fault"].(map[string]any)["message"])

	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "refused", "imageRef": imageID, "flavorRef": "1", "networks": "none"}}, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "Image "+imageID+" is not active.", ntErrMessage(body, "badRequest"))
}
