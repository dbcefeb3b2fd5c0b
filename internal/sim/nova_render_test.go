package sim

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The key sets of the reference answers 12 (GET at 2.1, no network), 50 (GET at 2.79, on a
// network) and 11 (detail list at 2.79, no network), copied from shared/openstack-reference.
var (
	refKeys12 = "OS-DCF:diskConfig OS-EXT-AZ:availability_zone OS-EXT-SRV-ATTR:host OS-EXT-SRV-ATTR:hypervisor_hostname " +
		"OS-EXT-SRV-ATTR:instance_name OS-EXT-STS:power_state OS-EXT-STS:task_state OS-EXT-STS:vm_state " +
		"OS-SRV-USG:launched_at OS-SRV-USG:terminated_at accessIPv4 accessIPv6 addresses config_drive created flavor " +
		"hostId id image key_name links metadata name os-extended-volumes:volumes_attached progress status tenant_id " +
		"updated user_id"
	refKeys279 = "OS-EXT-SRV-ATTR:hostname OS-EXT-SRV-ATTR:kernel_id OS-EXT-SRV-ATTR:launch_index " +
		"OS-EXT-SRV-ATTR:ramdisk_id OS-EXT-SRV-ATTR:reservation_id OS-EXT-SRV-ATTR:root_device_name " +
		"OS-EXT-SRV-ATTR:user_data description host_status locked locked_reason tags trusted_image_certificates"
	refKeys50 = refKeys12 + " " + refKeys279 + " security_groups server_groups"
	refKeys11 = refKeys12 + " " + refKeys279
)

func ntKeys(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func ntSorted(s string) string {
	f := strings.Fields(s)
	sort.Strings(f)
	return strings.Join(f, " ")
}

func TestNovaServerKeysMatchReferences(t *testing.T) {
	t.Parallel()
	s, seed := ntStart(t, Config{})
	c := ntNewClient(t, s, "2.79")
	noNet := c.createServer("ref-vm", seed.ImageID, map[string]any{"networks": "none"})
	onNet := c.createServer("ref-netvm", seed.ImageID, map[string]any{"networks": []any{map[string]any{"uuid": seed.PrivateNetworkID}}})
	c.waitStatus(noNet, "ACTIVE")
	c.waitStatus(onNet, "ACTIVE")

	old := &ntClient{t: t, s: s, token: c.token}
	_, srv := old.server(noNet)
	assert.Equal(t, ntSorted(refKeys12), ntKeys(srv), "reference 12")

	_, srv = c.server(onNet)
	assert.Equal(t, ntSorted(refKeys50), ntKeys(srv), "reference 50")

	resp, body := c.do(http.MethodGet, "/compute/v2.1/servers/detail?name=ref-vm", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, ntSorted(refKeys11), ntKeys(body["servers"].([]any)[0].(map[string]any)), "reference 11")
}
