package sim

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNovaVersionDocuments(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := &ntClient{t: t, s: s}

	for _, path := range []string{"/compute", "/compute/"} {
		resp, body := c.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		versions := body["versions"].([]any)
		require.Len(t, versions, 2)
		v21 := versions[1].(map[string]any)
		assert.Equal(t, "v2.1", v21["id"])
		assert.Equal(t, "CURRENT", v21["status"])
		assert.Equal(t, "2.1", v21["min_version"])
		assert.Equal(t, "2.93", v21["version"])
		assert.Equal(t, s.BaseURL()+"/compute/v2.1/", v21["links"].([]any)[0].(map[string]any)["href"])
	}
	for _, path := range []string{"/compute/v2.1", "/compute/v2.1/"} {
		resp, body := c.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "compute 2.1", resp.Header.Get("OpenStack-API-Version"))
		assert.Equal(t, "2.1", resp.Header.Get("X-OpenStack-Nova-API-Version"))
		v := body["version"].(map[string]any)
		assert.Equal(t, "2.93", v["version"])
		assert.Contains(t, v, "media-types")
	}
}

func TestNovaMicroversionHeaders(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	tests := []struct {
		name       string
		hdr        http.Header
		wantStatus int
		want       string
	}{
		{"none means 2.1", nil, http.StatusOK, "2.1"},
		{"OpenStack-API-Version", http.Header{"OpenStack-API-Version": {"compute 2.79"}}, http.StatusOK, "2.79"},
		{"among other services", http.Header{"OpenStack-API-Version": {"volume 3.2, compute 2.47"}}, http.StatusOK, "2.47"},
		{"legacy header", http.Header{"X-OpenStack-Nova-API-Version": {"2.60"}}, http.StatusOK, "2.60"},
		{"new header wins", http.Header{"OpenStack-API-Version": {"compute 2.10"}, "X-OpenStack-Nova-API-Version": {"2.60"}}, http.StatusOK, "2.10"},
		{"latest is the maximum", http.Header{"OpenStack-API-Version": {"compute latest"}}, http.StatusOK, "2.93"},
		{"too new", http.Header{"OpenStack-API-Version": {"compute 2.200"}}, http.StatusNotAcceptable, ""},
		{"wrong major", http.Header{"X-OpenStack-Nova-API-Version": {"3.0"}}, http.StatusNotAcceptable, ""},
		{"garbage", http.Header{"X-OpenStack-Nova-API-Version": {"two"}}, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &ntClient{t: t, s: s, token: c.token}
			resp, body := c.do(http.MethodGet, "/compute/v2.1/flavors", nil, tt.hdr)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "%v", body)
			if tt.want == "" {
				assert.NotEmpty(t, ntErrMessage(body, novaFaultKey(tt.wantStatus)))
				return
			}
			assert.Equal(t, "compute "+tt.want, resp.Header.Get("OpenStack-API-Version"))
			assert.Equal(t, tt.want, resp.Header.Get("X-OpenStack-Nova-API-Version"))
		})
	}
}

func TestNovaServerLifecycle(t *testing.T) {
	t.Parallel()
	drv := &ntDriver{}
	s, seed := ntStart(t, Config{Driver: drv, BootTime: 100 * time.Millisecond})
	c := ntNewClient(t, s, "2.79")
	userData := "#cloud-config\npackages: [nginx]\n"

	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "web-1", "imageRef": seed.ImageID, "flavorRef": "1",
		"networks":  []any{map[string]any{"uuid": seed.PrivateNetworkID}},
		"key_name":  SeedKeypairName,
		"user_data": base64.StdEncoding.EncodeToString([]byte(userData)),
		"metadata":  map[string]any{"remint_group": "web"},
	}}, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
	assert.Equal(t, "compute 2.79", resp.Header.Get("OpenStack-API-Version"))
	created := body["server"].(map[string]any)
	id := created["id"].(string)
	assert.Equal(t, s.BaseURL()+"/compute/v2.1/servers/"+id, resp.Header.Get("Location"))
	assert.Equal(t, "MANUAL", created["OS-DCF:diskConfig"])
	assert.Equal(t, []any{map[string]any{"name": "default"}}, created["security_groups"])
	assert.Len(t, created["adminPass"], 12)
	assert.Len(t, created["links"], 2)

	_, srv := c.server(id)
	assert.Equal(t, "BUILD", srv["status"])
	assert.Equal(t, "building", srv["OS-EXT-STS:vm_state"])
	assert.Nil(t, srv["OS-SRV-USG:launched_at"])

	ports := ntPortsOf(s, id)
	require.Len(t, ports, 1, "one port on the requested network")

	srv = c.waitStatus(id, "ACTIVE")
	assert.Equal(t, "active", srv["OS-EXT-STS:vm_state"])
	assert.Nil(t, srv["OS-EXT-STS:task_state"])
	assert.EqualValues(t, 1, srv["OS-EXT-STS:power_state"])
	assert.NotNil(t, srv["OS-SRV-USG:launched_at"])
	assert.Len(t, srv["hostId"], 56)
	assert.Equal(t, SeedKeypairName, srv["key_name"])
	assert.Equal(t, map[string]any{"remint_group": "web"}, srv["metadata"])
	assert.Equal(t, []any{}, srv["tags"])
	assert.Equal(t, []any{}, srv["os-extended-volumes:volumes_attached"])
	assert.Equal(t, []any{}, srv["server_groups"])
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte(userData)), srv["OS-EXT-SRV-ATTR:user_data"])
	assert.Equal(t, s.ProjectID(), srv["tenant_id"])
	assert.Equal(t, s.UserID(), srv["user_id"])
	assert.Equal(t, map[string]any{"vcpus": float64(1), "ram": float64(512), "disk": float64(1), "ephemeral": float64(0),
		"swap": float64(0), "original_name": "m1.tiny", "extra_specs": map[string]any{}}, srv["flavor"])
	img := srv["image"].(map[string]any)
	assert.Equal(t, seed.ImageID, img["id"])
	assert.Equal(t, s.BaseURL()+"/compute/images/"+seed.ImageID, img["links"].([]any)[0].(map[string]any)["href"])
	_, created2 := srv["created"].(string)
	assert.True(t, created2)
	_, err := time.Parse(time.RFC3339, srv["updated"].(string))
	require.NoError(t, err)

	addrs := srv["addresses"].(map[string]any)[SeedPrivateNetwork].([]any)
	require.Len(t, addrs, 1)
	fixed := addrs[0].(map[string]any)
	assert.Equal(t, "fixed", fixed["OS-EXT-IPS:type"])
	assert.EqualValues(t, 4, fixed["version"])
	assert.Regexp(t, `^fa:16:3e:`, fixed["OS-EXT-IPS-MAC:mac_addr"])

	// What the driver was asked to boot.
	booted, _, _ := drv.snapshot()
	require.Len(t, booted, 1)
	spec := booted[0]
	assert.Equal(t, id, spec.ServerID)
	assert.Equal(t, fixed["addr"], spec.FixedIP)
	assert.Equal(t, []byte(userData), spec.UserData)
	assert.Contains(t, spec.PublicKey, "ssh-ed25519 ")
	assert.Equal(t, "debian", spec.ImageProps["os_distro"])
	assert.Equal(t, "web", spec.Metadata["remint_group"])

	// A floating IP associated with the server's port shows up as a floating address.
	s.mu.Lock()
	fip := &FloatingIP{ID: newUUID(), FloatingIP: "172.24.4.77", FloatingNetworkID: seed.PublicNetworkID, ProjectID: s.ident.projectID}
	s.st.fips[fip.ID] = fip
	_, err = s.associateFIPLocked(fip, s.st.ports[ports[0]], "")
	s.mu.Unlock()
	require.NoError(t, err)
	_, srv = c.server(id)
	addrs = srv["addresses"].(map[string]any)[SeedPrivateNetwork].([]any)
	require.Len(t, addrs, 2)
	assert.Equal(t, "floating", addrs[1].(map[string]any)["OS-EXT-IPS:type"])
	assert.Equal(t, "172.24.4.77", addrs[1].(map[string]any)["addr"])

	// At no microversion the older shape (reference 12).
	old := &ntClient{t: t, s: s, token: c.token}
	resp, body = old.do(http.MethodGet, "/compute/v2.1/servers/"+id, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "compute 2.1", resp.Header.Get("OpenStack-API-Version"))
	srv21 := body["server"].(map[string]any)
	assert.Equal(t, map[string]any{"id": "1", "links": []any{map[string]any{
		"rel": "bookmark", "href": s.BaseURL() + "/compute/flavors/1"}}}, srv21["flavor"])
	for _, k := range []string{"tags", "locked", "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:user_data", "description", "server_groups", "host_status"} {
		assert.NotContains(t, srv21, k)
	}
	for _, k := range []string{"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name", "OS-EXT-AZ:availability_zone", "config_drive", "progress", "accessIPv4", "security_groups"} {
		assert.Contains(t, srv21, k)
	}

	// Delete: 204, ports go, the floating IP stays allocated but detached, then 404.
	resp, _ = c.do(http.MethodDelete, "/compute/v2.1/servers/"+id, nil, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	c.waitGone(id)
	assert.Empty(t, ntPortsOf(s, id))
	s.mu.Lock()
	assert.Empty(t, s.st.fips[fip.ID].PortID)
	s.mu.Unlock()
	_, deleted, _ := drv.snapshot()
	assert.Contains(t, deleted, id)

	resp, body = c.do(http.MethodDelete, "/compute/v2.1/servers/"+id, nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "Instance "+id+" could not be found.", ntErrMessage(body, "itemNotFound"))
}

func TestNovaServerNotFoundShape(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	id := "00000000-0000-0000-0000-000000000000"
	resp, body := c.do(http.MethodGet, "/compute/v2.1/servers/"+id, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "application/json; charset=UTF-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "compute 2.1", resp.Header.Get("OpenStack-API-Version"))
	// Reference 17, exactly.
	assert.Equal(t, map[string]any{"itemNotFound": map[string]any{
		"code": float64(404), "message": "Instance " + id + " could not be found.",
	}}, body)
}

func TestNovaServerCreateRefused(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	queued := ntAddImage(s, "half-made", "queued")
	none := "none"
	tests := []struct {
		name       string
		mv         string
		server     map[string]any
		wantStatus int
		wantMsg    string
	}{
		{"unknown image", "2.79", map[string]any{"imageRef": "00000000-0000-0000-0000-000000000000", "networks": none},
			400, "Can not find requested image"},
		{"image not active", "2.79", map[string]any{"imageRef": queued, "networks": none}, 400, "is not active"},
		{"unknown flavor", "2.79", map[string]any{"flavorRef": "99", "networks": none}, 400, "Invalid flavorRef provided."},
		{"unknown key", "2.79", map[string]any{"key_name": "nope", "networks": none}, 400, "Invalid key_name provided."},
		{"bad user data", "2.79", map[string]any{"user_data": "not base64!", "networks": none}, 400, "User data needs to be valid base 64."},
		{"networks none before 2.37", "2.1", map[string]any{"networks": none}, 400, "networks"},
		{"no networks from 2.37", "2.79", map[string]any{}, 400, "'networks' is a required property"},
		{"tags before 2.52", "2.51", map[string]any{"networks": none, "tags": []string{"a"}}, 400, "tags"},
		{"bad network uuid", "2.79", map[string]any{"networks": []any{map[string]any{"uuid": "private"}}}, 400, "Bad networks format"},
		{"unknown network", "2.79", map[string]any{"networks": []any{map[string]any{"uuid": "11111111-2222-3333-4444-555555555555"}}},
			400, "Network 11111111-2222-3333-4444-555555555555 could not be found."},
		{"no name", "2.79", map[string]any{"name": nil, "networks": none}, 400, "'name' is a required property"},
		{"metadata not strings", "2.79", map[string]any{"networks": none, "metadata": map[string]any{"a": 1}}, 400, "metadata"},
		{"other availability zone", "2.79", map[string]any{"networks": none, "availability_zone": "az9"}, 400, "availability zone"},
		{"unknown security group", "2.79", map[string]any{"networks": none, "security_groups": []any{map[string]any{"name": "web"}}}, 400, "Security group web not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ntNewClient(t, s, tt.mv)
			srv := map[string]any{"name": "bad", "imageRef": seed.ImageID, "flavorRef": "1"}
			for k, v := range tt.server {
				if v == nil {
					delete(srv, k)
					continue
				}
				srv[k] = v
			}
			resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": srv}, nil)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "%v", body)
			assert.Contains(t, ntErrMessage(body, "badRequest"), tt.wantMsg)
		})
	}
	c := ntNewClient(t, s, "")
	resp, body := c.do(http.MethodGet, "/compute/v2.1/servers", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body["servers"], "no refused request may leave a server behind")
}

func TestNovaServerNetworksDefault(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	tests := []struct {
		name     string
		mv       string
		networks any
		wantNets int
	}{
		{"auto picks the only tenant network", "2.79", "auto", 1},
		{"none attaches nothing", "2.79", "none", 0},
		{"no field before 2.37 attaches the only tenant network", "2.1", nil, 1},
		{"explicit list", "2.79", []any{map[string]any{"uuid": seed.PrivateNetworkID}}, 1},
		{"external network on request", "2.79", []any{map[string]any{"uuid": seed.PublicNetworkID}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ntNewClient(t, s, tt.mv)
			extra := map[string]any{}
			if tt.networks != nil {
				extra["networks"] = tt.networks
			}
			id := c.createServer("net-"+strings.ReplaceAll(tt.name, " ", "-"), seed.ImageID, extra)
			assert.Len(t, ntPortsOf(s, id), tt.wantNets)
			srv := c.waitStatus(id, "ACTIVE")
			assert.Len(t, srv["addresses"], tt.wantNets)
		})
	}
}

func TestNovaServerQuota(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	s.SetLimits(Limits{MaxInstances: 2, MaxCores: 100, MaxRAM: -1, MaxKeypairs: 10, MaxServerMeta: 128, MaxImageMeta: 128})
	c := ntNewClient(t, s, "2.79")
	c.createServer("q-1", seed.ImageID, map[string]any{"networks": "none"})
	c.createServer("q-2", seed.ImageID, map[string]any{"networks": "none"})
	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "q-3", "imageRef": seed.ImageID, "flavorRef": "1", "networks": "none"}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances", ntErrMessage(body, "forbidden"))

	resp, body = c.do(http.MethodGet, "/compute/v2.1/limits", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	abs := body["limits"].(map[string]any)["absolute"].(map[string]any)
	assert.EqualValues(t, 2, abs["maxTotalInstances"])
	assert.EqualValues(t, 2, abs["totalInstancesUsed"])
	assert.EqualValues(t, 2, abs["totalCoresUsed"])
	assert.EqualValues(t, 1024, abs["totalRAMUsed"])
	assert.NotContains(t, abs, "maxTotalFloatingIps", "gone at 2.36")
	assert.NotContains(t, abs, "maxPersonality", "gone at 2.57")

	// Cores are counted too: flavor 3 has 2 vCPUs.
	s.SetLimits(Limits{MaxInstances: 10, MaxCores: 3, MaxRAM: -1})
	resp, body = c.do(http.MethodPost, "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": "q-4", "imageRef": seed.ImageID, "flavorRef": "3", "networks": "none"}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, ntErrMessage(body, "forbidden"), "Quota exceeded for cores")
}

func TestNovaLimitsReference(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	resp, body := c.do(http.MethodGet, "/compute/v2.1/limits", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lim := body["limits"].(map[string]any)
	assert.Equal(t, []any{}, lim["rate"])
	abs := lim["absolute"].(map[string]any)
	// Every key of reference 08 at 2.1.
	for _, k := range []string{"maxTotalInstances", "maxTotalCores", "maxTotalRAMSize", "maxServerMeta", "maxImageMeta",
		"maxPersonality", "maxPersonalitySize", "maxTotalKeypairs", "maxServerGroups", "maxServerGroupMembers",
		"maxTotalFloatingIps", "maxSecurityGroups", "maxSecurityGroupRules", "totalRAMUsed", "totalCoresUsed",
		"totalInstancesUsed", "totalFloatingIpsUsed", "totalSecurityGroupsUsed", "totalServerGroupsUsed"} {
		assert.Contains(t, abs, k)
	}
	assert.Len(t, abs, 19)
}

func TestNovaBootFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(s *Sim, d *ntDriver)
		wantFault string
	}{
		{"injected boot fault", func(s *Sim, _ *ntDriver) {
			s.Faults().Set("compute.server.boot", FaultRule{ErrorRate: 1})
		}, "Injected boot failure"},
		{"driver error", func(_ *Sim, d *ntDriver) {
			d.bootErr = errors.New("workload exited with status 3")
		}, "workload exited with status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			drv := &ntDriver{}
			s, seed := ntStart(t, Config{Driver: drv})
			tt.setup(s, drv)
			c := ntNewClient(t, s, "2.79")
			id := c.createServer("doomed", seed.ImageID, map[string]any{"networks": []any{map[string]any{"uuid": seed.PrivateNetworkID}}})
			srv := c.waitStatus(id, "ERROR")
			assert.Equal(t, "error", srv["OS-EXT-STS:vm_state"])
			fault := srv["fault"].(map[string]any)
			assert.Equal(t, tt.wantFault, fault["message"])
			assert.EqualValues(t, 500, fault["code"])
			assert.NotEmpty(t, fault["created"])
			assert.Empty(t, ntPortsOf(s, id), "a failed build deallocates its network")
			assert.Empty(t, srv["addresses"])

			resp, _ := c.do(http.MethodDelete, "/compute/v2.1/servers/"+id, nil, nil)
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
			c.waitGone(id)
		})
	}
}

func TestNovaDeleteWhileBuilding(t *testing.T) {
	t.Parallel()
	t.Run("before the driver is asked", func(t *testing.T) {
		t.Parallel()
		drv := &ntDriver{}
		s, seed := ntStart(t, Config{Driver: drv, BootTime: 300 * time.Millisecond})
		c := ntNewClient(t, s, "2.79")
		id := c.createServer("short-lived", seed.ImageID, map[string]any{"networks": "auto"})
		resp, _ := c.do(http.MethodDelete, "/compute/v2.1/servers/"+id, nil, nil)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		c.waitGone(id)
		time.Sleep(400 * time.Millisecond) // past BootTime: the boot must not happen
		booted, _, _ := drv.snapshot()
		assert.Empty(t, booted)
		assert.Empty(t, ntPortsOf(s, id))
	})
	t.Run("while the driver boots it", func(t *testing.T) {
		t.Parallel()
		gate := make(chan struct{})
		drv := &ntDriver{bootGate: gate}
		s, seed := ntStart(t, Config{Driver: drv})
		c := ntNewClient(t, s, "2.79")
		id := c.createServer("short-lived", seed.ImageID, map[string]any{"networks": "auto"})
		require.Eventually(t, func() bool { b, _, _ := drv.snapshot(); return len(b) == 1 }, 5*time.Second, 5*time.Millisecond)
		resp, _ := c.do(http.MethodDelete, "/compute/v2.1/servers/"+id, nil, nil)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		c.waitGone(id)
		close(gate) // the boot finishes after the delete
		require.Eventually(t, func() bool {
			_, deleted, _ := drv.snapshot()
			n := 0
			for _, d := range deleted {
				if d == id {
					n++
				}
			}
			return n >= 2 // once by the delete, once more after the late boot
		}, 5*time.Second, 5*time.Millisecond)
		code, _ := c.server(id)
		assert.Equal(t, http.StatusNotFound, code, "a server deleted while building never comes back")
	})
}

func TestNovaReboot(t *testing.T) {
	t.Parallel()
	drv := &ntDriver{}
	s, seed := ntStart(t, Config{Driver: drv, BootTime: 150 * time.Millisecond})
	c := ntNewClient(t, s, "2.79")
	id := c.createServer("rb", seed.ImageID, map[string]any{"networks": "none"})

	resp, body := c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"reboot": map[string]any{"type": "SOFT"}}, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "reboot while building")
	assert.Contains(t, ntErrMessage(body, "conflictingRequest"), "Cannot 'reboot' instance")

	c.waitStatus(id, "ACTIVE")
	for _, typ := range []string{"SOFT", "HARD"} {
		resp, body = c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"reboot": map[string]any{"type": typ}}, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
		assert.Empty(t, body)
		_, srv := c.server(id)
		want := map[string]string{"SOFT": "REBOOT", "HARD": "HARD_REBOOT"}[typ]
		assert.Equal(t, want, srv["status"])
		c.waitStatus(id, "ACTIVE")
	}
	_, _, rebooted := drv.snapshot()
	assert.Equal(t, []string{id + ":soft", id + ":hard"}, rebooted)

	resp, _ = c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"reboot": map[string]any{"type": "GENTLE"}}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"os-frobnicate": nil}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestNovaConsoleOutput(t *testing.T) {
	t.Parallel()
	drv := &ntDriver{console: "booting\nssh host key: AAAA\nready\n"}
	s, seed := ntStart(t, Config{Driver: drv})
	c := ntNewClient(t, s, "")
	id := c.createServer("con", seed.ImageID, nil)
	c.waitStatus(id, "ACTIVE")
	tests := []struct {
		name   string
		arg    any
		output string
	}{
		{"everything", map[string]any{}, "booting\nssh host key: AAAA\nready\n"},
		{"length null", map[string]any{"length": nil}, "booting\nssh host key: AAAA\nready\n"},
		{"last two lines", map[string]any{"length": 2}, "ssh host key: AAAA\nready\n"},
		{"length as a string", map[string]any{"length": "1"}, "ready\n"},
		{"more than there is", map[string]any{"length": 50}, "booting\nssh host key: AAAA\nready\n"},
	}
	for _, tt := range tests {
		resp, body := c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"os-getConsoleOutput": tt.arg}, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, tt.name)
		assert.Equal(t, tt.output, body["output"], tt.name)
	}
	resp, _ := c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"os-getConsoleOutput": map[string]any{"length": -5}}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestNovaCreateImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mv       string
		snapErr  error
		inBody   bool
		wantLast string
	}{
		{"2.1 answers with Location", "", nil, false, "active"},
		{"2.45 answers with image_id", "2.45", nil, true, "active"},
		{"driver failure kills the image", "2.79", errors.New("disk busy"), true, "killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			drv := &ntDriver{snapErr: tt.snapErr}
			s, seed := ntStart(t, Config{Driver: drv, ImageSaveTime: 100 * time.Millisecond})
			c := ntNewClient(t, s, tt.mv)
			id := c.createServer("builder", seed.ImageID, map[string]any{"networks": []any{map[string]any{"uuid": seed.PrivateNetworkID}}})
			c.waitStatus(id, "ACTIVE")

			resp, body := c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"createImage": map[string]any{
				"name": "debian-12-2026.11.1", "metadata": map[string]any{"remint_family": "debian-12"}}}, nil)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
			var imageID string
			if tt.inBody {
				imageID = body["image_id"].(string)
				assert.Empty(t, resp.Header.Get("Location"))
			} else {
				assert.Empty(t, body)
				loc, err := url.Parse(resp.Header.Get("Location"))
				require.NoError(t, err)
				assert.Equal(t, "/image/v2/images/", loc.Path[:len(loc.Path)-36])
				imageID = loc.Path[len(loc.Path)-36:]
			}
			imageStatus := func() (string, *Image) {
				s.mu.Lock()
				defer s.mu.Unlock()
				img := s.st.images[imageID]
				if img == nil {
					return "", nil
				}
				cp := *img
				return img.Status, &cp
			}
			st, img := imageStatus()
			require.NotNil(t, img)
			assert.Equal(t, "queued", st)
			assert.Equal(t, "debian-12-2026.11.1", img.Name)
			assert.Equal(t, "private", img.Visibility)
			assert.Equal(t, s.ProjectID(), img.Owner)
			assert.Equal(t, "snapshot", img.Properties["image_type"])
			assert.Equal(t, id, img.Properties["instance_uuid"])
			assert.Equal(t, seed.ImageID, img.Properties["base_image_ref"])
			assert.Equal(t, "debian-12", img.Properties["remint_family"])
			assert.Equal(t, "debian", img.Properties["os_distro"], "base image properties are inherited")

			_, srv := c.server(id)
			assert.Equal(t, "image_snapshot", srv["OS-EXT-STS:task_state"])
			resp, body = c.do(http.MethodPost, "/compute/v2.1/servers/"+id+"/action", map[string]any{"createImage": map[string]any{"name": "again"}}, nil)
			assert.Equal(t, http.StatusConflict, resp.StatusCode, "one snapshot at a time: %v", body)

			require.Eventually(t, func() bool { st, _ := imageStatus(); return st == "saving" }, 5*time.Second, 5*time.Millisecond)
			require.Eventually(t, func() bool { st, _ := imageStatus(); return st == tt.wantLast }, 5*time.Second, 5*time.Millisecond)
			_, img = imageStatus()
			if tt.wantLast == "active" {
				assert.Equal(t, "snap:"+imageID, img.DriverRef)
				assert.NotEmpty(t, img.Checksum)
				assert.Positive(t, img.Size)
			}
			require.Eventually(t, func() bool { _, srv := c.server(id); return srv["OS-EXT-STS:task_state"] == nil }, 5*time.Second, 5*time.Millisecond)
		})
	}
}

func TestNovaServerList(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	c := ntNewClient(t, s, "2.79")
	var ids []string
	for _, name := range []string{"web-1", "web-2", "web-3", "db-1"} {
		ids = append(ids, c.createServer(name, seed.ImageID, map[string]any{"networks": "none", "tags": []string{strings.Split(name, "-")[0]}}))
		time.Sleep(2 * time.Millisecond) // distinct creation times for a stable order
	}
	for _, id := range ids {
		c.waitStatus(id, "ACTIVE")
	}
	names := func(body map[string]any) []string {
		var out []string
		for _, srv := range body["servers"].([]any) {
			out = append(out, srv.(map[string]any)["name"].(string))
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"db-1", "web-3", "web-2", "web-1"}},
		{"?name=web-", []string{"web-3", "web-2", "web-1"}},
		{"?name=^db", []string{"db-1"}},
		{"?name=web-[12]$", []string{"web-2", "web-1"}},
		{"?status=ACTIVE&name=db", []string{"db-1"}},
		{"?status=active&name=db", []string{"db-1"}},
		{"?status=ERROR", nil},
		{"?image=" + seed.ImageID + "&flavor=1&name=web-3", []string{"web-3"}},
		{"?flavor=2", nil},
		{"?tags=db", []string{"db-1"}},
		{"?not-tags=db", []string{"web-3", "web-2", "web-1"}},
		{"?limit=2", []string{"db-1", "web-3"}},
		{"?limit=2&marker=" + ids[2], []string{"web-2", "web-1"}},
	}
	for _, tt := range tests {
		for _, path := range []string{"/compute/v2.1/servers", "/compute/v2.1/servers/detail"} {
			resp, body := c.do(http.MethodGet, path+tt.query, nil, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, tt.query)
			assert.Equal(t, tt.want, names(body), "%s%s", path, tt.query)
		}
	}

	// Paging links point at the next page and stop at the end.
	_, body := c.do(http.MethodGet, "/compute/v2.1/servers/detail?limit=3", nil, nil)
	links := body["servers_links"].([]any)
	next, err := url.Parse(links[0].(map[string]any)["href"].(string))
	require.NoError(t, err)
	assert.Equal(t, "/compute/v2.1/servers/detail", next.Path)
	assert.Equal(t, ids[1], next.Query().Get("marker"))
	_, body = c.do(http.MethodGet, next.RequestURI(), nil, nil)
	assert.Equal(t, []string{"web-1"}, names(body))
	assert.NotContains(t, body, "servers_links")
	// A full last page still links on, as Nova does; the link leads to an empty page.
	_, body = c.do(http.MethodGet, "/compute/v2.1/servers?limit=2&marker="+ids[2], nil, nil)
	require.Contains(t, body, "servers_links")
	next, err = url.Parse(body["servers_links"].([]any)[0].(map[string]any)["href"].(string))
	require.NoError(t, err)
	_, body = c.do(http.MethodGet, next.RequestURI(), nil, nil)
	assert.Empty(t, body["servers"])
	assert.NotContains(t, body, "servers_links")

	// The brief list has only id, name and links; detail has the full shape.
	_, body = c.do(http.MethodGet, "/compute/v2.1/servers?name=db", nil, nil)
	assert.Len(t, body["servers"].([]any)[0].(map[string]any), 3)
	_, body = c.do(http.MethodGet, "/compute/v2.1/servers/detail?name=db", nil, nil)
	detail := body["servers"].([]any)[0].(map[string]any)
	assert.Equal(t, "ACTIVE", detail["status"])
	assert.NotContains(t, detail, "server_groups", "only GET /servers/{id} shows server_groups")

	resp, _ := c.do(http.MethodGet, "/compute/v2.1/servers?marker=nope", nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestNovaServerUpdateMetadataTags(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	c := ntNewClient(t, s, "2.79")
	id := c.createServer("md", seed.ImageID, map[string]any{"networks": "none", "metadata": map[string]any{"a": "1"}})
	base := "/compute/v2.1/servers/" + id

	resp, body := c.do(http.MethodPost, base+"/metadata", map[string]any{"metadata": map[string]any{"b": "2"}}, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "metadata cannot change while building: %v", body)
	c.waitStatus(id, "ACTIVE")

	steps := []struct {
		method, path string
		body         any
		wantStatus   int
		wantMeta     map[string]any
	}{
		{http.MethodPost, "/metadata", map[string]any{"metadata": map[string]any{"b": "2"}}, 200, map[string]any{"a": "1", "b": "2"}},
		{http.MethodPut, "/metadata/c", map[string]any{"meta": map[string]any{"c": "3"}}, 200, map[string]any{"a": "1", "b": "2", "c": "3"}},
		{http.MethodPut, "/metadata/c", map[string]any{"meta": map[string]any{"d": "3"}}, 400, map[string]any{"a": "1", "b": "2", "c": "3"}},
		{http.MethodDelete, "/metadata/a", nil, 204, map[string]any{"b": "2", "c": "3"}},
		{http.MethodDelete, "/metadata/a", nil, 404, map[string]any{"b": "2", "c": "3"}},
		{http.MethodPut, "/metadata", map[string]any{"metadata": map[string]any{"z": "26"}}, 200, map[string]any{"z": "26"}},
	}
	for _, st := range steps {
		resp, body := c.do(st.method, base+st.path, st.body, nil)
		require.Equal(t, st.wantStatus, resp.StatusCode, "%s %s: %v", st.method, st.path, body)
		_, got := c.do(http.MethodGet, base+"/metadata", nil, nil)
		assert.Equal(t, st.wantMeta, got["metadata"], "%s %s", st.method, st.path)
	}
	resp, body = c.do(http.MethodGet, base+"/metadata/z", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]any{"z": "26"}, body["meta"])

	// Rename.
	resp, body = c.do(http.MethodPut, base, map[string]any{"server": map[string]any{"name": "md-renamed"}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, "md-renamed", body["server"].(map[string]any)["name"])
	resp, _ = c.do(http.MethodPut, base, map[string]any{"server": map[string]any{"flavor": "2"}}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Tags.
	resp, _ = c.do(http.MethodPut, base+"/tags/rollout-7", nil, nil)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, _ = c.do(http.MethodPut, base+"/tags/rollout-7", nil, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = c.do(http.MethodGet, base+"/tags/rollout-7", nil, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = c.do(http.MethodGet, base+"/tags/rollout-8", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, body = c.do(http.MethodPut, base+"/tags", map[string]any{"tags": []string{"x", "y"}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []any{"x", "y"}, body["tags"])
	resp, _ = c.do(http.MethodDelete, base+"/tags/x", nil, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, body = c.do(http.MethodGet, base+"/tags", nil, nil)
	assert.Equal(t, []any{"y"}, body["tags"])
	old := &ntClient{t: t, s: s, token: c.token, mv: "2.25"}
	resp, _ = old.do(http.MethodGet, base+"/tags", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "tags need 2.26")
}

func TestNovaFlavors(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	resp, body := c.do(http.MethodGet, "/compute/v2.1/flavors/detail", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	flavors := body["flavors"].([]any)
	require.Len(t, flavors, 3)
	// Reference 07, field for field.
	assert.Equal(t, map[string]any{
		"id": "1", "name": "m1.tiny", "ram": float64(512), "disk": float64(1), "swap": "",
		"OS-FLV-EXT-DATA:ephemeral": float64(0), "OS-FLV-DISABLED:disabled": false, "vcpus": float64(1),
		"os-flavor-access:is_public": true, "rxtx_factor": 1.0,
		"links": []any{
			map[string]any{"rel": "self", "href": s.BaseURL() + "/compute/v2.1/flavors/1"},
			map[string]any{"rel": "bookmark", "href": s.BaseURL() + "/compute/flavors/1"},
		},
	}, flavors[0])

	_, body = c.do(http.MethodGet, "/compute/v2.1/flavors?minRam=2048", nil, nil)
	assert.Len(t, body["flavors"], 2)
	assert.Len(t, body["flavors"].([]any)[0].(map[string]any), 3, "id, name, links")

	resp, body = c.do(http.MethodGet, "/compute/v2.1/flavors/3", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "m1.medium", body["flavor"].(map[string]any)["name"])
	resp, body = c.do(http.MethodGet, "/compute/v2.1/flavors/m1.tiny", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "Flavor m1.tiny could not be found.", ntErrMessage(body, "itemNotFound"))
}

func TestNovaKeypairs(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "2.79")
	const pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ci@example\n"

	resp, body := c.do(http.MethodPost, "/compute/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "ci", "public_key": pub}}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	kp := body["keypair"].(map[string]any)
	assert.Equal(t, "ssh", kp["type"])
	assert.Regexp(t, `^([0-9a-f]{2}:){15}[0-9a-f]{2}$`, kp["fingerprint"], "legacy MD5 fingerprint")
	assert.Equal(t, pub, kp["public_key"])
	assert.NotContains(t, kp, "private_key")

	tests := []struct {
		name       string
		keypair    map[string]any
		wantStatus int
	}{
		{"duplicate", map[string]any{"name": "ci", "public_key": pub}, http.StatusConflict},
		{"not a key", map[string]any{"name": "junk", "public_key": "ssh-rsa garbage"}, http.StatusBadRequest},
		{"unsafe name", map[string]any{"name": "a/b", "public_key": pub}, http.StatusBadRequest},
		{"no name", map[string]any{"public_key": pub}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		resp, body := c.do(http.MethodPost, "/compute/v2.1/os-keypairs", map[string]any{"keypair": tt.keypair}, nil)
		assert.Equal(t, tt.wantStatus, resp.StatusCode, "%s: %v", tt.name, body)
	}

	resp, body = c.do(http.MethodGet, "/compute/v2.1/os-keypairs", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var listed []string
	for _, k := range body["keypairs"].([]any) {
		listed = append(listed, k.(map[string]any)["keypair"].(map[string]any)["name"].(string))
	}
	assert.Equal(t, []string{"ci", SeedKeypairName}, listed)

	resp, body = c.do(http.MethodGet, "/compute/v2.1/os-keypairs/ci", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, s.UserID(), body["keypair"].(map[string]any)["user_id"])

	// Generated keypair (before 2.92) returns its private key once.
	old := &ntClient{t: t, s: s, token: c.token}
	resp, body = old.do(http.MethodPost, "/compute/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "gen"}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Contains(t, body["keypair"].(map[string]any)["private_key"], "PRIVATE KEY")
	latest := &ntClient{t: t, s: s, token: c.token, mv: "2.92"}
	resp, _ = latest.do(http.MethodPost, "/compute/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "gen2"}}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "2.92 requires public_key")

	resp, _ = c.do(http.MethodDelete, "/compute/v2.1/os-keypairs/ci", nil, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, body = c.do(http.MethodGet, "/compute/v2.1/os-keypairs/ci", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, ntErrMessage(body, "itemNotFound"), "Keypair ci not found")
}

func TestNovaFaultInjection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rule       FaultRule
		wantStatus int
		wantKey    string
		retryAfter string
	}{
		{"503 with Retry-After", FaultRule{ErrorRate: 1, Status: 503, RetryAfter: 2 * time.Second}, 503, "serviceUnavailable", "2"},
		{"429 rate limit", FaultRule{RateLimitRate: 1}, 429, "overLimit", "1"},
		{"409 conflict", FaultRule{ConflictRate: 1}, 409, "conflictingRequest", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := ntStart(t, Config{})
			c := ntNewClient(t, s, "2.79")
			s.Faults().Set("compute.server.list", tt.rule)
			resp, body := c.do(http.MethodGet, "/compute/v2.1/servers/detail", nil, nil)
			require.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.retryAfter, resp.Header.Get("Retry-After"))
			assert.Contains(t, ntErrMessage(body, tt.wantKey), "compute.server.list")
			assert.Equal(t, "compute 2.79", resp.Header.Get("OpenStack-API-Version"), "faults carry the microversion too")
			resp, _ = c.do(http.MethodGet, "/compute/v2.1/flavors", nil, nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "other operations are unaffected")
			assert.EqualValues(t, 1, s.Calls()["compute.server.list"])
		})
	}
}

func TestNovaAvailabilityZones(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	resp, body := c.do(http.MethodGet, "/compute/v2.1/os-availability-zone", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	zones := body["availabilityZoneInfo"].([]any)
	require.Len(t, zones, 1)
	assert.Equal(t, "nova", zones[0].(map[string]any)["zoneName"])
}
