package sim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

func neutronNetworkNotFound(id string) *neutronErr {
	return neutronNotFound("NetworkNotFound", "Network "+id+" could not be found.")
}

func neutronSubnetNotFound(id string) *neutronErr {
	return neutronNotFound("SubnetNotFound", "Subnet "+id+" could not be found.")
}

// neutronNetworkJSON renders a network as in reference 38.
func neutronNetworkJSON(n *Network) *kvObject {
	subnets := append([]string{}, n.SubnetIDs...)
	o := newKV().set("id", n.ID).set("name", n.Name).set("tenant_id", n.ProjectID).
		set("admin_state_up", n.AdminStateUp).set("mtu", n.MTU).set("status", n.Status).
		set("subnets", subnets).set("shared", n.Shared).
		set("availability_zone_hints", []string{}).set("availability_zones", []string{}).
		set("ipv4_address_scope", nil).set("ipv6_address_scope", nil).
		set("router:external", n.External).set("description", "").
		set("port_security_enabled", true)
	if n.External {
		o.set("is_default", false)
	}
	o.set("tags", []string{}).set("created_at", zuluSeconds(n.Created)).
		set("updated_at", zuluSeconds(n.Updated)).set("revision_number", n.RevisionNumber).
		set("project_id", n.ProjectID)
	// Provider attributes as ML2 reports them: external networks are flat on the "public"
	// physical network, tenant networks are VXLAN segments.
	if n.External {
		o.set("provider:network_type", "flat").set("provider:physical_network", "public").
			set("provider:segmentation_id", nil)
	} else {
		h := fnv.New32a()
		_, _ = h.Write([]byte(n.ID))
		o.set("provider:network_type", "vxlan").set("provider:physical_network", nil).
			set("provider:segmentation_id", int(h.Sum32()%1000)+1)
	}
	return o
}

// neutronSubnetJSON renders a subnet as in reference 39.
func neutronSubnetJSON(sn *Subnet) *kvObject {
	start, end := neutronAllocationRange(sn.CIDR)
	return newKV().set("id", sn.ID).set("name", sn.Name).set("tenant_id", sn.ProjectID).
		set("network_id", sn.NetworkID).set("ip_version", sn.IPVersion).set("subnetpool_id", nil).
		set("enable_dhcp", sn.EnableDHCP).set("ipv6_ra_mode", nil).set("ipv6_address_mode", nil).
		set("gateway_ip", nullWhenEmpty(neutronAddrString(sn.GatewayIP))).set("cidr", sn.CIDR.String()).
		set("allocation_pools", []any{newKV().set("start", start).set("end", end)}).
		set("host_routes", []any{}).set("dns_nameservers", []string{}).set("description", "").
		set("service_types", []string{}).set("tags", []string{}).
		set("created_at", zuluSeconds(sn.Created)).set("updated_at", zuluSeconds(sn.Updated)).
		set("revision_number", sn.RevisionNumber).set("project_id", sn.ProjectID)
}

func neutronAddrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// neutronAllocationRange is the pool the IPAM hands out: after the gateway up to the last address
// before broadcast.
func neutronAllocationRange(p netip.Prefix) (start, end string) {
	p = p.Masked()
	first := p.Addr().Next().Next()
	last := first
	for a := first; p.Contains(a); a = a.Next() {
		if isBroadcast(p, a) {
			break
		}
		last = a
	}
	return first.String(), last.String()
}

func (s *Sim) neutronListNetworks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var objs []*kvObject
	for _, n := range s.networksInOrderLocked() {
		objs = append(objs, neutronNetworkJSON(n))
	}
	s.mu.Unlock()
	s.neutronList(w, r, "networks", objs, neutronNetworkNotFound)
}

func (s *Sim) networksInOrderLocked() []*Network {
	var out []*Network
	for _, id := range slices.Sorted(maps.Keys(s.st.networks)) {
		out = append(out, s.st.networks[id])
	}
	neutronSortByCreated(out, func(n *Network) time.Time { return n.Created })
	return out
}

// neutronSortByCreated orders resources oldest first, ties by their current (id) order.
func neutronSortByCreated[T any](xs []T, created func(T) time.Time) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && created(xs[j]).Before(created(xs[j-1])); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

func (s *Sim) neutronGetNetwork(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	n := s.st.networks[id]
	var o *kvObject
	if n != nil {
		o = neutronNetworkJSON(n)
	}
	s.mu.Unlock()
	if o == nil {
		neutronNetworkNotFound(id).write(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "network", o)
}

// neutronWriteOne answers {"<resource>": {...}}, honouring fields=.
func neutronWriteOne(w http.ResponseWriter, r *http.Request, status int, resource string, o *kvObject) {
	if fields := r.URL.Query()["fields"]; len(fields) > 0 {
		o = o.only(fields)
	}
	writeJSON(w, status, newKV().set(resource, o))
}

func (s *Sim) neutronCreateNetwork(w http.ResponseWriter, r *http.Request) {
	attrs, nerr := neutronDecode(r, "network", "name", "admin_state_up", "shared", "router:external",
		"mtu", "tenant_id", "project_id")
	if nerr != nil {
		nerr.write(w)
		return
	}
	name, nerr := neutronString(attrs, "name")
	if nerr != nil {
		nerr.write(w)
		return
	}
	var bools [3]bool
	for i, k := range []string{"admin_state_up", "shared", "router:external"} {
		if bools[i], nerr = neutronBool(attrs, k, k == "admin_state_up"); nerr != nil {
			nerr.write(w)
			return
		}
	}
	mtu := 1450
	if bools[2] {
		mtu = 1500
	}
	if raw, ok := attrs["mtu"]; ok {
		if err := json.Unmarshal(raw, &mtu); err != nil || mtu < 68 {
			neutronBadRequest(fmt.Sprintf("Invalid input for mtu. Reason: '%s' is not a valid MTU.", raw)).write(w)
			return
		}
	}
	now := time.Now().UTC()
	s.mu.Lock()
	n := &Network{ID: newUUID(), Name: name, ProjectID: s.ident.projectID, AdminStateUp: bools[0],
		Status: "ACTIVE", Shared: bools[1], External: bools[2], MTU: mtu, RevisionNumber: 1,
		Created: now, Updated: now}
	s.st.networks[n.ID] = n
	o := neutronNetworkJSON(n)
	s.mu.Unlock()
	neutronWriteOne(w, r, http.StatusCreated, "network", o)
}

// neutronDeleteNetwork deletes a network and its subnets; a network with ports or
// floating IPs on it is in use (409).
func (s *Sim) neutronDeleteNetwork(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.networks[id]
	if n == nil {
		neutronNetworkNotFound(id).write(w)
		return
	}
	inUse := false
	for _, p := range s.st.ports {
		if p.NetworkID == id && p.DeviceOwner != "network:dhcp" {
			inUse = true
		}
	}
	for _, f := range s.st.fips {
		if f.FloatingNetworkID == id {
			inUse = true
		}
	}
	for _, rt := range s.st.routers {
		if rt.NetworkID == id {
			inUse = true // the router's gateway port is on it
		}
	}
	if inUse {
		(&neutronErr{http.StatusConflict, "NetworkInUse", "Unable to complete operation on network " + id +
			". There are one or more ports still in use on the network."}).write(w)
		return
	}
	for _, sid := range n.SubnetIDs {
		delete(s.st.subnets, sid)
	}
	delete(s.st.networks, id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) neutronListSubnets(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var subnets []*Subnet
	for _, id := range slices.Sorted(maps.Keys(s.st.subnets)) {
		subnets = append(subnets, s.st.subnets[id])
	}
	neutronSortByCreated(subnets, func(sn *Subnet) time.Time { return sn.Created })
	var objs []*kvObject
	for _, sn := range subnets {
		objs = append(objs, neutronSubnetJSON(sn))
	}
	s.mu.Unlock()
	s.neutronList(w, r, "subnets", objs, neutronSubnetNotFound)
}

func (s *Sim) neutronGetSubnet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	sn := s.st.subnets[id]
	var o *kvObject
	if sn != nil {
		o = neutronSubnetJSON(sn)
	}
	s.mu.Unlock()
	if o == nil {
		neutronSubnetNotFound(id).write(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "subnet", o)
}

// neutronCreateSubnet adds an IPv4 subnet with its own address pool to a network.
func (s *Sim) neutronCreateSubnet(w http.ResponseWriter, r *http.Request) {
	attrs, nerr := neutronDecode(r, "subnet", "network_id", "cidr", "name", "ip_version",
		"enable_dhcp", "gateway_ip", "tenant_id", "project_id")
	if nerr != nil {
		nerr.write(w)
		return
	}
	var strs [4]string
	for i, k := range []string{"network_id", "cidr", "name", "gateway_ip"} {
		if strs[i], nerr = neutronString(attrs, k); nerr != nil {
			nerr.write(w)
			return
		}
	}
	netID, cidrText, name, gateway := strs[0], strs[1], strs[2], strs[3]
	if netID == "" {
		neutronBadRequest("Failed to parse request. Required attribute 'network_id' not specified").write(w)
		return
	}
	if _, ok := attrs["ip_version"]; !ok {
		neutronBadRequest("Failed to parse request. Required attribute 'ip_version' not specified").write(w)
		return
	}
	var ipVersion int
	if err := json.Unmarshal(attrs["ip_version"], &ipVersion); err != nil || ipVersion != 4 && ipVersion != 6 {
		neutronBadRequest(fmt.Sprintf("Invalid input for ip_version. Reason: %s is not in valid_values.", attrs["ip_version"])).write(w)
		return
	}
	if ipVersion != 4 {
		neutronBadRequest("Invalid input for ip_version. Reason: the simulator supports IPv4 subnets only.").write(w)
		return
	}
	if cidrText == "" {
		neutronBadRequest("Bad subnet request: a cidr must be specified in the absence of a subnet pool.").write(w)
		return
	}
	cidr, err := netip.ParsePrefix(cidrText)
	if err != nil || !cidr.Addr().Is4() || cidr.Bits() > 30 {
		neutronBadRequest("Invalid input for cidr. Reason: '" + cidrText + "' is not a valid IP subnet.").write(w)
		return
	}
	dhcp, nerr := neutronBool(attrs, "enable_dhcp", true)
	if nerr != nil {
		nerr.write(w)
		return
	}
	if gateway != "" && gateway != cidr.Masked().Addr().Next().String() {
		neutronBadRequest("Invalid input for gateway_ip. Reason: the simulator puts the gateway on the first host address (" +
			cidr.Masked().Addr().Next().String() + ").").write(w)
		return
	}

	s.mu.Lock()
	n := s.st.networks[netID]
	if n == nil {
		s.mu.Unlock()
		neutronNetworkNotFound(netID).write(w)
		return
	}
	for _, sid := range n.SubnetIDs {
		if other := s.st.subnets[sid]; other != nil && other.CIDR.Overlaps(cidr) {
			s.mu.Unlock()
			(&neutronErr{http.StatusBadRequest, "InvalidInput", fmt.Sprintf(
				"Invalid input for operation: Requested subnet with cidr: %s for network: %s overlaps with another subnet.",
				cidr.Masked(), netID)}).write(w)
			return
		}
	}
	sn := s.addSubnetLocked(n, name, cidr)
	sn.EnableDHCP = dhcp
	o := neutronSubnetJSON(sn)
	s.mu.Unlock()
	neutronWriteOne(w, r, http.StatusCreated, "subnet", o)
}

// neutronDeleteSubnet deletes a subnet nobody holds an address of (409 otherwise).
func (s *Sim) neutronDeleteSubnet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.st.subnets[id]
	if sn == nil {
		neutronSubnetNotFound(id).write(w)
		return
	}
	inUse := false
	for _, p := range s.st.ports {
		for _, ip := range p.FixedIPs {
			if ip.SubnetID == id {
				inUse = true
			}
		}
	}
	for _, f := range s.st.fips {
		if a, err := netip.ParseAddr(f.FloatingIP); err == nil && f.FloatingNetworkID == sn.NetworkID && sn.CIDR.Contains(a) {
			inUse = true
		}
	}
	if inUse {
		(&neutronErr{http.StatusConflict, "SubnetInUse", "Unable to complete operation on subnet " + id +
			": One or more ports have an IP allocation from this subnet."}).write(w)
		return
	}
	if n := s.st.networks[sn.NetworkID]; n != nil {
		for i, sid := range n.SubnetIDs {
			if sid == id {
				n.SubnetIDs = append(n.SubnetIDs[:i:i], n.SubnetIDs[i+1:]...)
				break
			}
		}
		n.RevisionNumber++
		n.Updated = time.Now().UTC()
	}
	delete(s.st.subnets, id)
	w.WriteHeader(http.StatusNoContent)
}
