package sim

import (
	"errors"
	"net/netip"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// neutronErrBody checks the Neutron error shape (reference 56) and returns type and message.
func neutronErrBody(t *testing.T, r gnResp, status int) (typ, msg string) {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r.body)
	ne, ok := r.json(t)["NeutronError"].(map[string]any)
	require.True(t, ok, "%s", r.body)
	assert.Equal(t, "", ne["detail"])
	return ne["type"].(string), ne["message"].(string)
}

func (e *gnEnv) createPort(t *testing.T, netID, name, deviceID string) map[string]any {
	t.Helper()
	r := e.call(t, "POST", "/network/v2.0/ports", map[string]any{"port": map[string]any{
		"network_id": netID, "name": name, "device_id": deviceID}})
	require.Equal(t, 201, r.status, "%s", r.body)
	return r.json(t)["port"].(map[string]any)
}

func (e *gnEnv) createFIP(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	r := e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": body})
	require.Equal(t, 201, r.status, "%s", r.body)
	return r.json(t)["floatingip"].(map[string]any)
}

func (e *gnEnv) routerID(t *testing.T) string {
	t.Helper()
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.s.routerForLocked(e.seed.PublicNetworkID)
}

func TestNeutronVersionsAndResources(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	for _, path := range []string{"/network/", "/network"} {
		r := e.call(t, "GET", path, nil)
		require.Equal(t, 200, r.status)
		v := r.json(t)["versions"].([]any)[0].(map[string]any)
		assert.Equal(t, "v2.0", v["id"])
		assert.Equal(t, "CURRENT", v["status"])
		assert.Equal(t, e.s.BaseURL()+"/network/v2.0/", v["links"].([]any)[0].(map[string]any)["href"])
	}
	r := e.call(t, "GET", "/network/v2.0/extensions", nil)
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), `"revision-if-match"`)
	_, msg := neutronErrBody(t, e.call(t, "GET", "/network/v2.0/nothing-here", nil), 404)
	assert.NotEmpty(t, msg)
}

func TestNeutronNetworksAndSubnets(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	r := e.call(t, "GET", "/network/v2.0/networks", nil)
	require.Equal(t, 200, r.status)
	nets := r.json(t)["networks"].([]any)
	require.Len(t, nets, 2)
	byName := map[string]map[string]any{}
	for _, n := range nets {
		byName[n.(map[string]any)["name"].(string)] = n.(map[string]any)
	}
	pub, priv := byName[SeedPublicNetwork], byName[SeedPrivateNetwork]
	assert.Equal(t, true, pub["router:external"])
	assert.Equal(t, false, priv["router:external"])
	assert.Equal(t, "flat", pub["provider:network_type"])
	assert.Equal(t, "vxlan", priv["provider:network_type"])
	for _, k := range []string{"tenant_id", "project_id", "admin_state_up", "mtu", "status", "subnets", "shared",
		"availability_zone_hints", "ipv4_address_scope", "description", "port_security_enabled", "tags",
		"created_at", "updated_at", "revision_number"} {
		assert.Contains(t, priv, k)
	}

	list := func(q string) []string {
		r := e.call(t, "GET", "/network/v2.0/networks"+q, nil)
		require.Equal(t, 200, r.status, "%s: %s", q, r.body)
		var ids []string
		for _, n := range r.json(t)["networks"].([]any) {
			ids = append(ids, n.(map[string]any)["id"].(string))
		}
		return ids
	}
	assert.Equal(t, []string{e.seed.PublicNetworkID}, list("?router:external=true"))
	assert.Equal(t, []string{e.seed.PrivateNetworkID}, list("?router%3Aexternal=False"))
	assert.Equal(t, []string{e.seed.PrivateNetworkID}, list("?name=private"))
	assert.Len(t, list("?name=private&name=public"), 2, "repeated filter values are OR-ed")
	assert.Empty(t, list("?status=DOWN"))
	typ, _ := neutronErrBody(t, e.call(t, "GET", "/network/v2.0/networks?colour=red", nil), 400)
	assert.Equal(t, "HTTPBadRequest", typ)

	r = e.call(t, "GET", "/network/v2.0/networks?fields=id&fields=name", nil)
	one := r.json(t)["networks"].([]any)[0].(map[string]any)
	assert.Len(t, one, 2)

	r = e.call(t, "GET", "/network/v2.0/networks/"+e.seed.PrivateNetworkID, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, priv, r.json(t)["network"])
	typ, msg := neutronErrBody(t, e.call(t, "GET", "/network/v2.0/networks/nope", nil), 404)
	assert.Equal(t, "NetworkNotFound", typ)
	assert.Equal(t, "Network nope could not be found.", msg)

	// Subnets have the shape of reference 39.
	sid := priv["subnets"].([]any)[0].(string)
	r = e.call(t, "GET", "/network/v2.0/subnets/"+sid, nil)
	require.Equal(t, 200, r.status)
	sn := r.json(t)["subnet"].(map[string]any)
	assert.Equal(t, "10.0.0.0/24", sn["cidr"])
	assert.Equal(t, "10.0.0.1", sn["gateway_ip"])
	assert.Equal(t, []any{map[string]any{"start": "10.0.0.2", "end": "10.0.0.254"}}, sn["allocation_pools"])
	assert.EqualValues(t, 4, sn["ip_version"])
	for _, k := range []string{"dns_nameservers", "host_routes", "service_types", "tags"} {
		assert.Equal(t, []any{}, sn[k], k)
	}
	assert.Contains(t, sn, "revision_number")

	// Create a network with a subnet, refuse an overlapping one, delete both.
	r = e.call(t, "POST", "/network/v2.0/networks", map[string]any{"network": map[string]any{"name": "extra"}})
	require.Equal(t, 201, r.status, "%s", r.body)
	netID := r.json(t)["network"].(map[string]any)["id"].(string)
	r = e.call(t, "POST", "/network/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": netID, "cidr": "192.168.50.0/24", "ip_version": 4, "name": "extra-sub"}})
	require.Equal(t, 201, r.status, "%s", r.body)
	subID := r.json(t)["subnet"].(map[string]any)["id"].(string)
	r = e.call(t, "POST", "/network/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": netID, "cidr": "192.168.50.128/25", "ip_version": 4}})
	typ, _ = neutronErrBody(t, r, 400)
	assert.Equal(t, "InvalidInput", typ)
	r = e.call(t, "POST", "/network/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": netID, "cidr": "not-a-cidr", "ip_version": 4}})
	neutronErrBody(t, r, 400)
	r = e.call(t, "POST", "/network/v2.0/networks", map[string]any{"network": map[string]any{"name": "x", "colour": "red"}})
	_, msg = neutronErrBody(t, r, 400)
	assert.Equal(t, "Unrecognized attribute(s) 'colour'", msg)

	port := e.createPort(t, netID, "holder", "")
	typ, _ = neutronErrBody(t, e.call(t, "DELETE", "/network/v2.0/subnets/"+subID, nil), 409)
	assert.Equal(t, "SubnetInUse", typ)
	typ, _ = neutronErrBody(t, e.call(t, "DELETE", "/network/v2.0/networks/"+netID, nil), 409)
	assert.Equal(t, "NetworkInUse", typ)
	require.Equal(t, 204, e.call(t, "DELETE", "/network/v2.0/ports/"+port["id"].(string), nil).status)
	require.Equal(t, 204, e.call(t, "DELETE", "/network/v2.0/subnets/"+subID, nil).status)
	assert.Equal(t, []any{}, e.call(t, "GET", "/network/v2.0/networks/"+netID, nil).json(t)["network"].(map[string]any)["subnets"])
	require.Equal(t, 204, e.call(t, "DELETE", "/network/v2.0/networks/"+netID, nil).status)
	neutronErrBody(t, e.call(t, "GET", "/network/v2.0/networks/"+netID, nil), 404)
}

func TestNeutronPorts(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	p := e.createPort(t, e.seed.PrivateNetworkID, "ref-port", "ref-device")
	id := p["id"].(string)
	assert.EqualValues(t, 1, p["revision_number"])
	assert.Equal(t, "", p["device_owner"])
	assert.Regexp(t, `^fa:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`, p["mac_address"])
	fixed := p["fixed_ips"].([]any)[0].(map[string]any)
	ip := fixed["ip_address"].(string)
	assert.True(t, netip.MustParsePrefix("10.0.0.0/24").Contains(netip.MustParseAddr(ip)))

	// The default security group is the port's group and can be looked up by name.
	r := e.call(t, "GET", "/network/v2.0/security-groups?name=default", nil)
	require.Equal(t, 200, r.status)
	sgs := r.json(t)["security_groups"].([]any)
	require.Len(t, sgs, 1)
	sg := sgs[0].(map[string]any)
	assert.Equal(t, []any{sg["id"]}, p["security_groups"])
	assert.Len(t, sg["security_group_rules"], 4)
	require.Equal(t, 200, e.call(t, "GET", "/network/v2.0/security-groups/"+sg["id"].(string), nil).status)

	e.createPort(t, e.seed.PrivateNetworkID, "other", "other-device")
	listIDs := func(q string) []string {
		r := e.call(t, "GET", "/network/v2.0/ports"+q, nil)
		require.Equal(t, 200, r.status, "%s: %s", q, r.body)
		var ids []string
		for _, p := range r.json(t)["ports"].([]any) {
			ids = append(ids, p.(map[string]any)["id"].(string))
		}
		return ids
	}
	assert.Equal(t, []string{id}, listIDs("?device_id=ref-device"))
	assert.Equal(t, []string{id}, listIDs("?fixed_ips="+url.QueryEscape("ip_address="+ip)))
	assert.Equal(t, []string{id}, listIDs("?fixed_ips="+url.QueryEscape("subnet_id="+fixed["subnet_id"].(string))+"&name=ref-port"))
	assert.Len(t, listIDs("?network_id="+e.seed.PrivateNetworkID), 2)
	assert.Empty(t, listIDs("?device_owner=compute:nova"))

	// Paging: limit + marker with a next link.
	r = e.call(t, "GET", "/network/v2.0/ports?limit=1", nil)
	m := r.json(t)
	require.Len(t, m["ports"], 1)
	links := m["ports_links"].([]any)
	next := links[0].(map[string]any)
	assert.Equal(t, "next", next["rel"])
	u, err := url.Parse(next["href"].(string))
	require.NoError(t, err)
	r = e.call(t, "GET", u.RequestURI(), nil)
	require.Len(t, r.json(t)["ports"], 1)
	assert.NotEqual(t, m["ports"].([]any)[0].(map[string]any)["id"], r.json(t)["ports"].([]any)[0].(map[string]any)["id"])

	// fields= trims the objects but not the paging.
	r = e.call(t, "GET", "/network/v2.0/ports?limit=1&fields=name", nil)
	m = r.json(t)
	assert.Equal(t, []any{map[string]any{"name": "ref-port"}}, m["ports"])
	u, err = url.Parse(m["ports_links"].([]any)[0].(map[string]any)["href"].(string))
	require.NoError(t, err)
	assert.Equal(t, id, u.Query().Get("marker"))

	// Update with a revision constraint.
	r = e.call(t, "PUT", "/network/v2.0/ports/"+id, map[string]any{"port": map[string]any{"name": "renamed"}},
		"If-Match", "revision_number=7")
	typ, msg := neutronErrBody(t, r, 412)
	assert.Equal(t, "RevisionNumberConstraintFailed", typ)
	assert.Equal(t, "Constrained to 7, but current revision is 1", msg)
	r = e.call(t, "PUT", "/network/v2.0/ports/"+id, map[string]any{"port": map[string]any{"name": "renamed", "device_id": ""}},
		"If-Match", "revision_number=1")
	require.Equal(t, 200, r.status, "%s", r.body)
	up := r.json(t)["port"].(map[string]any)
	assert.Equal(t, "renamed", up["name"])
	assert.EqualValues(t, 2, up["revision_number"])
	assert.Equal(t, "DOWN", up["status"])

	r = e.call(t, "POST", "/network/v2.0/ports", map[string]any{"port": map[string]any{"network_id": e.seed.PrivateNetworkID,
		"security_groups": []string{"no-such-group"}}})
	typ, _ = neutronErrBody(t, r, 404)
	assert.Equal(t, "SecurityGroupNotFound", typ)
	typ, _ = neutronErrBody(t, e.call(t, "POST", "/network/v2.0/ports", map[string]any{"port": map[string]any{"network_id": "nope"}}), 404)
	assert.Equal(t, "NetworkNotFound", typ)

	require.Equal(t, 204, e.call(t, "DELETE", "/network/v2.0/ports/"+id, nil).status)
	typ, msg = neutronErrBody(t, e.call(t, "GET", "/network/v2.0/ports/"+id, nil), 404)
	assert.Equal(t, "PortNotFound", typ)
	assert.Equal(t, "Port "+id+" could not be found.", msg)
}

func TestNeutronFloatingIPLifecycle(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	port := e.createPort(t, e.seed.PrivateNetworkID, "ref-port", "ref-device")
	portID := port["id"].(string)
	fixedIP := port["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)

	// Create (reference 42).
	f := e.createFIP(t, map[string]any{"floating_network_id": e.seed.PublicNetworkID})
	id, addr := f["id"].(string), f["floating_ip_address"].(string)
	assert.True(t, netip.MustParsePrefix("172.24.4.0/24").Contains(netip.MustParseAddr(addr)))
	assert.Equal(t, "DOWN", f["status"])
	assert.EqualValues(t, 0, f["revision_number"])
	for _, k := range []string{"router_id", "port_id", "fixed_ip_address", "port_details"} {
		v, ok := f[k]
		assert.True(t, ok, k)
		assert.Nil(t, v, k)
	}
	assert.Equal(t, []any{}, f["tags"])

	// Associate (reference 43): the driver forwards before the answer.
	r := e.call(t, "PUT", "/network/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"port_id": portID}},
		"If-Match", "revision_number=0")
	require.Equal(t, 200, r.status, "%s", r.body)
	f = r.json(t)["floatingip"].(map[string]any)
	assert.Equal(t, portID, f["port_id"])
	assert.Equal(t, fixedIP, f["fixed_ip_address"])
	assert.Equal(t, e.routerID(t), f["router_id"])
	assert.Equal(t, "ACTIVE", f["status"])
	assert.EqualValues(t, 1, f["revision_number"])
	details := f["port_details"].(map[string]any)
	assert.Equal(t, "ref-device", details["device_id"])
	assert.Equal(t, e.seed.PrivateNetworkID, details["network_id"])
	assert.Equal(t, []fipChange{{FloatingIP: addr, FixedIP: fixedIP}}, e.drv.setCalls())

	// A stale revision is refused (reference 44) and changes nothing.
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"port_id": nil}},
		"If-Match", "revision_number=0")
	typ, msg := neutronErrBody(t, r, 412)
	assert.Equal(t, "RevisionNumberConstraintFailed", typ)
	assert.Equal(t, "Constrained to 0, but current revision is 1", msg)
	assert.Len(t, e.drv.setCalls(), 1)

	// List by port (reference 45) and by other attributes.
	for _, q := range []string{"port_id=" + portID, "floating_ip_address=" + addr, "fixed_ip_address=" + fixedIP,
		"floating_network_id=" + e.seed.PublicNetworkID, "status=ACTIVE", "router_id=" + e.routerID(t)} {
		r = e.call(t, "GET", "/network/v2.0/floatingips?"+q, nil)
		require.Equal(t, 200, r.status, "%s: %s", q, r.body)
		fips := r.json(t)["floatingips"].([]any)
		require.Len(t, fips, 1, q)
		assert.Equal(t, id, fips[0].(map[string]any)["id"])
	}
	assert.Empty(t, e.call(t, "GET", "/network/v2.0/floatingips?status=DOWN", nil).json(t)["floatingips"])

	// Disassociate (reference 46).
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"port_id": nil}},
		"If-Match", "revision_number=1")
	require.Equal(t, 200, r.status, "%s", r.body)
	f = r.json(t)["floatingip"].(map[string]any)
	assert.Nil(t, f["port_id"])
	assert.Nil(t, f["fixed_ip_address"])
	assert.Nil(t, f["router_id"])
	assert.Nil(t, f["port_details"])
	assert.Equal(t, "DOWN", f["status"])
	assert.EqualValues(t, 2, f["revision_number"])
	assert.Equal(t, fipChange{FloatingIP: addr}, e.drv.setCalls()[1])

	// Description updates bump the revision too.
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"description": "web"}})
	require.Equal(t, 200, r.status)
	assert.EqualValues(t, 3, r.json(t)["floatingip"].(map[string]any)["revision_number"])
	r = e.call(t, "GET", "/network/v2.0/floatingips?description=web", nil)
	assert.Len(t, r.json(t)["floatingips"], 1)

	// Delete (reference 47) releases the address to the pool and the driver.
	r = e.call(t, "DELETE", "/network/v2.0/floatingips/"+id, nil)
	require.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, []string{addr}, e.drv.releaseCalls())
	typ, msg = neutronErrBody(t, e.call(t, "GET", "/network/v2.0/floatingips/"+id, nil), 404)
	assert.Equal(t, "FloatingIPNotFound", typ)
	assert.Equal(t, "Floating IP "+id+" could not be found", msg)
	neutronErrBody(t, e.call(t, "DELETE", "/network/v2.0/floatingips/"+id, nil), 404)
	again := e.createFIP(t, map[string]any{"floating_network_id": e.seed.PublicNetworkID})
	assert.Equal(t, addr, again["floating_ip_address"], "the released address is handed out again")
}

func TestNeutronFloatingIPCreateAssociatedMoveAndPortDelete(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	a := e.createPort(t, e.seed.PrivateNetworkID, "a", "server-a")
	b := e.createPort(t, e.seed.PrivateNetworkID, "b", "server-b")
	aIP := a["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	bIP := b["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)

	// Created associated (reference 52): first revision, association filled in.
	f := e.createFIP(t, map[string]any{"floating_network_id": e.seed.PublicNetworkID, "port_id": a["id"],
		"floating_ip_address": "172.24.4.77", "description": "vip"})
	id := f["id"].(string)
	assert.Equal(t, "172.24.4.77", f["floating_ip_address"])
	assert.Equal(t, aIP, f["fixed_ip_address"])
	assert.EqualValues(t, 0, f["revision_number"])
	assert.Equal(t, "vip", f["description"])
	assert.Equal(t, []fipChange{{"172.24.4.77", aIP}}, e.drv.setCalls())

	// The requested address is now taken.
	r := e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": e.seed.PublicNetworkID, "floating_ip_address": "172.24.4.77"}})
	typ, _ := neutronErrBody(t, r, 409)
	assert.Equal(t, "IpAddressAlreadyAllocated", typ)
	r = e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": e.seed.PublicNetworkID, "floating_ip_address": "10.9.9.9"}})
	typ, _ = neutronErrBody(t, r, 400)
	assert.Equal(t, "InvalidIpForNetwork", typ)

	// A second floating IP for the same fixed IP is refused.
	second := e.createFIP(t, map[string]any{"floating_network_id": e.seed.PublicNetworkID})
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+second["id"].(string),
		map[string]any{"floatingip": map[string]any{"port_id": a["id"]}})
	typ, msg := neutronErrBody(t, r, 409)
	assert.Equal(t, "FloatingIPPortAlreadyAssociated", typ)
	assert.Contains(t, msg, "as that fixed IP already has a floating IP on external network "+e.seed.PublicNetworkID)

	// Associating to nothing real is refused.
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+second["id"].(string),
		map[string]any{"floatingip": map[string]any{"port_id": "no-such-port"}})
	typ, _ = neutronErrBody(t, r, 404)
	assert.Equal(t, "PortNotFound", typ)
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+second["id"].(string),
		map[string]any{"floatingip": map[string]any{"port_id": b["id"], "fixed_ip_address": "10.0.0.250"}})
	typ, _ = neutronErrBody(t, r, 400)
	assert.Equal(t, "BadRequest", typ)

	// Move the address straight from a to b: the failover step.
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"port_id": b["id"]}},
		"If-Match", "revision_number=0")
	require.Equal(t, 200, r.status, "%s", r.body)
	f = r.json(t)["floatingip"].(map[string]any)
	assert.Equal(t, bIP, f["fixed_ip_address"])
	assert.EqualValues(t, 1, f["revision_number"])
	assert.Equal(t, fipChange{"172.24.4.77", bIP}, e.drv.setCalls()[1])

	// Deleting the port leaves the floating IP allocated and detached (reference 54).
	require.Equal(t, 204, e.call(t, "DELETE", "/network/v2.0/ports/"+b["id"].(string), nil).status)
	f = e.call(t, "GET", "/network/v2.0/floatingips/"+id, nil).json(t)["floatingip"].(map[string]any)
	assert.Nil(t, f["port_id"])
	assert.Equal(t, "DOWN", f["status"])
	assert.EqualValues(t, 2, f["revision_number"])
	assert.Equal(t, fipChange{FloatingIP: "172.24.4.77"}, e.drv.setCalls()[2])
}

func TestNeutronFloatingIPRefusals(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	r := e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": e.seed.PrivateNetworkID}})
	typ, msg := neutronErrBody(t, r, 400)
	assert.Equal(t, "BadRequest", typ)
	assert.Equal(t, "Bad floatingip request: Network "+e.seed.PrivateNetworkID+" is not a valid external network.", msg)

	r = e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": map[string]any{}})
	neutronErrBody(t, r, 400)
	r = e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": "nope"}})
	typ, _ = neutronErrBody(t, r, 404)
	assert.Equal(t, "NetworkNotFound", typ)

	// Pool exhaustion on a small external network: a /29 has five usable addresses.
	r = e.call(t, "POST", "/network/v2.0/networks", map[string]any{"network": map[string]any{"name": "tiny", "router:external": true}})
	require.Equal(t, 201, r.status, "%s", r.body)
	tiny := r.json(t)["network"].(map[string]any)["id"].(string)
	r = e.call(t, "POST", "/network/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": tiny, "cidr": "198.51.100.0/29", "ip_version": 4}})
	require.Equal(t, 201, r.status, "%s", r.body)
	var got []string
	for i := 0; i < 5; i++ {
		got = append(got, e.createFIP(t, map[string]any{"floating_network_id": tiny})["floating_ip_address"].(string))
	}
	assert.Equal(t, []string{"198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5", "198.51.100.6"}, got)
	r = e.call(t, "POST", "/network/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": tiny}})
	typ, msg = neutronErrBody(t, r, 409)
	assert.Equal(t, "IpAddressGenerationFailure", typ)
	assert.Equal(t, "No more IP addresses available on network "+tiny+".", msg)

	// No router has its gateway on the tiny network: it cannot reach a port.
	port := e.createPort(t, e.seed.PrivateNetworkID, "p", "d")
	r = e.call(t, "GET", "/network/v2.0/floatingips?floating_network_id="+tiny+"&limit=1", nil)
	fid := r.json(t)["floatingips"].([]any)[0].(map[string]any)["id"].(string)
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+fid, map[string]any{"floatingip": map[string]any{"port_id": port["id"]}})
	typ, _ = neutronErrBody(t, r, 404)
	assert.Equal(t, "ExternalGatewayForFloatingIPNotFound", typ)

	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+fid, map[string]any{"floatingip": map[string]any{"floating_ip_address": "1.2.3.4"}})
	_, msg = neutronErrBody(t, r, 400)
	assert.Equal(t, "Unrecognized attribute(s) 'floating_ip_address'", msg)
}

func TestNeutronFloatingIPDriverFailureIsRetryable(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	port := e.createPort(t, e.seed.PrivateNetworkID, "p", "d")
	f := e.createFIP(t, map[string]any{"floating_network_id": e.seed.PublicNetworkID})
	e.drv.mu.Lock()
	e.drv.failSet = errors.New("forwarder down")
	e.drv.mu.Unlock()
	body := map[string]any{"floatingip": map[string]any{"port_id": port["id"]}}
	r := e.call(t, "PUT", "/network/v2.0/floatingips/"+f["id"].(string), body)
	neutronErrBody(t, r, 500)
	e.drv.mu.Lock()
	e.drv.failSet = nil
	e.drv.mu.Unlock()
	r = e.call(t, "PUT", "/network/v2.0/floatingips/"+f["id"].(string), body)
	require.Equal(t, 200, r.status, "%s", r.body)
	assert.Len(t, e.drv.setCalls(), 1, "the retried request reached the driver")
}

// TestNeutronFloatingIPConcurrentMoves moves one address between two ports from many
// goroutines: whatever order the API applied, the driver's last target is the state's.
func TestNeutronFloatingIPConcurrentMoves(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	ports := []map[string]any{
		e.createPort(t, e.seed.PrivateNetworkID, "a", "a"),
		e.createPort(t, e.seed.PrivateNetworkID, "b", "b"),
	}
	f := e.createFIP(t, map[string]any{"floating_network_id": e.seed.PublicNetworkID})
	id := f["id"].(string)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.call(t, "PUT", "/network/v2.0/floatingips/"+id,
				map[string]any{"floatingip": map[string]any{"port_id": ports[i%2]["id"]}})
			assert.Equal(t, 200, r.status)
		}()
	}
	wg.Wait()
	final := e.call(t, "GET", "/network/v2.0/floatingips/"+id, nil).json(t)["floatingip"].(map[string]any)
	calls := e.drv.setCalls()
	require.Len(t, calls, 20)
	assert.Equal(t, final["fixed_ip_address"], calls[len(calls)-1].FixedIP)
}

func TestNeutronRoutersAndFaults(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	r := e.call(t, "GET", "/network/v2.0/routers", nil)
	require.Equal(t, 200, r.status)
	routers := r.json(t)["routers"].([]any)
	require.Len(t, routers, 1)
	rt := routers[0].(map[string]any)
	assert.Equal(t, SeedRouterName, rt["name"])
	assert.Equal(t, e.seed.PublicNetworkID, rt["external_gateway_info"].(map[string]any)["network_id"])
	require.Equal(t, 200, e.call(t, "GET", "/network/v2.0/routers/"+rt["id"].(string), nil).status)
	typ, _ := neutronErrBody(t, e.call(t, "GET", "/network/v2.0/routers/nope", nil), 404)
	assert.Equal(t, "RouterNotFound", typ)

	e.s.Faults().Set("network.*", FaultRule{RateLimitRate: 1, Times: 1})
	r = e.call(t, "GET", "/network/v2.0/floatingips", nil)
	typ, msg := neutronErrBody(t, r, 429)
	assert.Equal(t, "HTTPTooManyRequests", typ)
	assert.Equal(t, "Injected fault on network.floatingip.list.", msg)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, 200, e.call(t, "GET", "/network/v2.0/floatingips", nil).status)
	calls := e.s.Calls()
	assert.EqualValues(t, 2, calls["network.floatingip.list"])
	assert.EqualValues(t, 1, calls["network.router.list"])
}
