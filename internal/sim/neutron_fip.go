package sim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

func neutronFIPNotFound(id string) *neutronErr {
	return neutronNotFound("FloatingIPNotFound", "Floating IP "+id+" could not be found")
}

// neutronFIPJSON renders a floating IP as in references 43 and 46, with port_details
// while it is associated.
func (s *Sim) neutronFIPJSON(f *FloatingIP) *kvObject {
	var details any
	if p := s.st.ports[f.PortID]; f.PortID != "" && p != nil {
		details = newKV().set("name", p.Name).set("network_id", p.NetworkID).
			set("mac_address", p.MACAddress).set("admin_state_up", p.AdminStateUp).
			set("status", p.Status).set("device_id", p.DeviceID).set("device_owner", p.DeviceOwner)
	}
	tags := f.Tags
	if tags == nil {
		tags = []string{}
	}
	return newKV().set("id", f.ID).set("tenant_id", f.ProjectID).
		set("floating_ip_address", f.FloatingIP).set("floating_network_id", f.FloatingNetworkID).
		set("router_id", nullWhenEmpty(f.RouterID)).set("port_id", nullWhenEmpty(f.PortID)).
		set("fixed_ip_address", nullWhenEmpty(f.FixedIP)).set("status", f.Status).
		set("description", f.Description).set("port_details", details).set("tags", tags).
		set("created_at", zuluSeconds(f.Created)).set("updated_at", zuluSeconds(f.Updated)).
		set("revision_number", f.RevisionNumber).set("project_id", f.ProjectID)
}

func (s *Sim) neutronListFIPs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var fips []*FloatingIP
	for _, id := range slices.Sorted(maps.Keys(s.st.fips)) {
		fips = append(fips, s.st.fips[id])
	}
	neutronSortByCreated(fips, func(f *FloatingIP) time.Time { return f.Created })
	var objs []*kvObject
	for _, f := range fips {
		objs = append(objs, s.neutronFIPJSON(f))
	}
	s.mu.Unlock()
	s.neutronList(w, r, "floatingips", objs, neutronFIPNotFound)
}

func (s *Sim) neutronGetFIP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	var o *kvObject
	if f := s.st.fips[id]; f != nil {
		o = s.neutronFIPJSON(f)
	}
	s.mu.Unlock()
	if o == nil {
		neutronFIPNotFound(id).write(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "floatingip", o)
}

// neutronCheckAssocLocked validates pointing floating IP f at portID (fixedIP optional) as
// Neutron's l3_db does, and returns the port and the fixed IP to use.
func (s *Sim) neutronCheckAssocLocked(f *FloatingIP, portID, fixedIP string) (*Port, string, *neutronErr) {
	p := s.st.ports[portID]
	if p == nil {
		return nil, "", neutronPortNotFound(portID)
	}
	if len(p.FixedIPs) == 0 {
		return nil, "", &neutronErr{http.StatusBadRequest, "BadRequest",
			"Bad floatingip request: Cannot add floating IP to port " + portID + " that has no fixed IPv4 addresses."}
	}
	subnetID := p.FixedIPs[0].SubnetID
	if fixedIP == "" {
		fixedIP = p.FixedIPs[0].IPAddress
	} else {
		found := false
		for _, ip := range p.FixedIPs {
			if ip.IPAddress == fixedIP {
				found, subnetID = true, ip.SubnetID
			}
		}
		if !found {
			return nil, "", &neutronErr{http.StatusBadRequest, "BadRequest",
				"Bad floatingip request: Port " + portID + " does not have fixed ip " + fixedIP + "."}
		}
	}
	if s.routerForLocked(f.FloatingNetworkID) == "" {
		return nil, "", neutronNotFound("ExternalGatewayForFloatingIPNotFound", fmt.Sprintf(
			"External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.",
			f.FloatingNetworkID, subnetID, portID))
	}
	for _, id := range slices.Sorted(maps.Keys(s.st.fips)) {
		other := s.st.fips[id]
		if other.ID != f.ID && other.PortID == portID && other.FixedIP == fixedIP &&
			other.FloatingNetworkID == f.FloatingNetworkID {
			return nil, "", &neutronErr{http.StatusConflict, "FloatingIPPortAlreadyAssociated", fmt.Sprintf(
				"Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
				f.FloatingIP, f.ID, portID, fixedIP, f.FloatingNetworkID)}
		}
	}
	return p, fixedIP, nil
}

// neutronCreateFIP allocates a floating IP on an external network (references 42, 52),
// associating it at once when port_id is given.
func (s *Sim) neutronCreateFIP(w http.ResponseWriter, r *http.Request) {
	attrs, nerr := neutronDecode(r, "floatingip", "floating_network_id", "floating_ip_address",
		"subnet_id", "port_id", "fixed_ip_address", "description", "tenant_id", "project_id")
	if nerr != nil {
		nerr.write(w)
		return
	}
	var strs [6]string
	for i, k := range []string{"floating_network_id", "floating_ip_address", "subnet_id", "port_id", "fixed_ip_address", "description"} {
		if strs[i], nerr = neutronString(attrs, k); nerr != nil {
			nerr.write(w)
			return
		}
	}
	netID, wantAddr, subnetID, portID, fixedIP, desc := strs[0], strs[1], strs[2], strs[3], strs[4], strs[5]
	if netID == "" {
		neutronBadRequest("Failed to parse request. Required attribute 'floating_network_id' not specified").write(w)
		return
	}
	if fixedIP != "" && portID == "" {
		(&neutronErr{http.StatusBadRequest, "BadRequest",
			"Bad floatingip request: fixed_ip_address cannot be specified without a port_id."}).write(w)
		return
	}

	order := &s.neutron().fipOrder
	order.Lock()
	defer order.Unlock()
	s.mu.Lock()
	n := s.st.networks[netID]
	if n == nil {
		s.mu.Unlock()
		neutronNetworkNotFound(netID).write(w)
		return
	}
	if !n.External {
		s.mu.Unlock()
		(&neutronErr{http.StatusBadRequest, "BadRequest",
			"Bad floatingip request: Network " + netID + " is not a valid external network."}).write(w)
		return
	}
	addr, nerr := s.neutronAllocateFloatingLocked(n, wantAddr, subnetID)
	if nerr != nil {
		s.mu.Unlock()
		nerr.write(w)
		return
	}
	now := time.Now().UTC()
	f := &FloatingIP{ID: newUUID(), FloatingIP: addr.IPAddress, FloatingNetworkID: netID,
		ProjectID: s.ident.projectID, Status: "DOWN", Description: desc, Tags: []string{},
		Created: now, Updated: now}
	var changes []fipChange
	if portID != "" {
		p, fixed, nerr := s.neutronCheckAssocLocked(f, portID, fixedIP)
		if nerr != nil {
			s.releaseFixedIPLocked(addr)
			s.mu.Unlock()
			nerr.write(w)
			return
		}
		c, err := s.associateFIPLocked(f, p, fixed)
		if err != nil {
			s.releaseFixedIPLocked(addr)
			s.mu.Unlock()
			neutronBadRequest(err.Error()).write(w)
			return
		}
		changes = append(changes, c)
		f.RevisionNumber = 0 // created associated: still the first revision (reference 52)
	}
	s.st.fips[f.ID] = f
	o := s.neutronFIPJSON(f)
	s.mu.Unlock()
	if err := s.applyFIPChanges(r.Context(), changes); err != nil {
		neutronDriverFailed(w)
		return
	}
	neutronWriteOne(w, r, http.StatusCreated, "floatingip", o)
}

// neutronAllocateFloatingLocked takes an address from the external network's pool: the
// requested one (reserved), one from the requested subnet, or the lowest free one.
func (s *Sim) neutronAllocateFloatingLocked(n *Network, want, subnetID string) (FixedIP, *neutronErr) {
	if subnetID != "" {
		sn := s.st.subnets[subnetID]
		if sn == nil || sn.NetworkID != n.ID {
			return FixedIP{}, &neutronErr{http.StatusBadRequest, "BadRequest", fmt.Sprintf(
				"Bad floatingip request: Subnet with id %s on network %s does not exist.", subnetID, n.ID)}
		}
	}
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil {
			return FixedIP{}, neutronBadRequest("Invalid input for floating_ip_address. Reason: '" + want + "' is not a valid IP address.")
		}
		for _, sid := range n.SubnetIDs {
			sn := s.st.subnets[sid]
			if sn == nil || !sn.CIDR.Contains(a) || subnetID != "" && sid != subnetID {
				continue
			}
			if err := sn.pool.reserve(a); err != nil {
				if sn.pool.used[a] {
					return FixedIP{}, &neutronErr{http.StatusConflict, "IpAddressAlreadyAllocated", fmt.Sprintf(
						"IP address %s already allocated in subnet %s", want, sid)}
				}
				break
			}
			return FixedIP{SubnetID: sid, IPAddress: a.String()}, nil
		}
		return FixedIP{}, &neutronErr{http.StatusBadRequest, "InvalidIpForNetwork", fmt.Sprintf(
			"IP address %s is not a valid IP for any of the subnets on the specified network.", want)}
	}
	if subnetID != "" {
		a, err := s.st.subnets[subnetID].pool.allocate()
		if err != nil {
			return FixedIP{}, neutronIPExhausted(n.ID)
		}
		return FixedIP{SubnetID: subnetID, IPAddress: a.String()}, nil
	}
	ip, err := s.allocateOnNetworkLocked(n)
	if err != nil {
		return FixedIP{}, neutronIPExhausted(n.ID)
	}
	return ip, nil
}

// neutronUpdateFIP associates ({"port_id": X}), moves, or disassociates ({"port_id": null})
// a floating IP and changes its description (references 43, 44, 46). The driver forwards
// the address to its new target before the answer.
func (s *Sim) neutronUpdateFIP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	attrs, nerr := neutronDecode(r, "floatingip", "port_id", "fixed_ip_address", "description")
	if nerr != nil {
		nerr.write(w)
		return
	}
	var strs [3]string
	for i, k := range []string{"port_id", "fixed_ip_address", "description"} {
		if strs[i], nerr = neutronString(attrs, k); nerr != nil {
			nerr.write(w)
			return
		}
	}
	portID, fixedIP, desc := strs[0], strs[1], strs[2]
	_, portGiven := attrs["port_id"]
	_, fixedGiven := attrs["fixed_ip_address"]
	_, descGiven := attrs["description"]

	order := &s.neutron().fipOrder
	order.Lock()
	defer order.Unlock()
	s.mu.Lock()
	f := s.st.fips[id]
	if f == nil {
		s.mu.Unlock()
		neutronFIPNotFound(id).write(w)
		return
	}
	if nerr := neutronIfMatch(r, f.RevisionNumber); nerr != nil {
		s.mu.Unlock()
		nerr.write(w)
		return
	}
	if !portGiven && fixedGiven {
		// A new fixed IP on the port the address already points at.
		portID, portGiven = f.PortID, true
		if portID == "" {
			s.mu.Unlock()
			(&neutronErr{http.StatusBadRequest, "BadRequest",
				"Bad floatingip request: fixed_ip_address cannot be specified without a port_id."}).write(w)
			return
		}
	}
	var changes []fipChange
	rev := f.RevisionNumber
	switch {
	case portGiven && portID == "":
		if f.PortID != "" {
			s.disassociateFIPLocked(f)
		}
		changes = append(changes, fipChange{FloatingIP: f.FloatingIP})
	case portGiven:
		p, fixed, nerr := s.neutronCheckAssocLocked(f, portID, fixedIP)
		if nerr != nil {
			s.mu.Unlock()
			nerr.write(w)
			return
		}
		if f.PortID != p.ID || f.FixedIP != fixed {
			c, err := s.associateFIPLocked(f, p, fixed)
			if err != nil {
				s.mu.Unlock()
				neutronBadRequest(err.Error()).write(w)
				return
			}
			changes = append(changes, c)
		} else {
			// Already there: nothing changes, but the driver is told again so a
			// retried request after a driver failure repairs the data plane.
			changes = append(changes, fipChange{FloatingIP: f.FloatingIP, FixedIP: fixed})
		}
	}
	if descGiven && desc != f.Description {
		f.Description = desc
		if f.RevisionNumber == rev {
			f.RevisionNumber++
		}
		f.Updated = time.Now().UTC()
	}
	o := s.neutronFIPJSON(f)
	s.mu.Unlock()
	if err := s.applyFIPChanges(r.Context(), changes); err != nil {
		neutronDriverFailed(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "floatingip", o)
}

// neutronDeleteFIP releases a floating IP back to its pool (references 47, 55); the
// driver stops serving it before the answer.
func (s *Sim) neutronDeleteFIP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	order := &s.neutron().fipOrder
	order.Lock()
	defer order.Unlock()
	s.mu.Lock()
	f := s.st.fips[id]
	if f == nil {
		s.mu.Unlock()
		neutronFIPNotFound(id).write(w)
		return
	}
	if nerr := neutronIfMatch(r, f.RevisionNumber); nerr != nil {
		s.mu.Unlock()
		nerr.write(w)
		return
	}
	delete(s.st.fips, id)
	if a, err := netip.ParseAddr(f.FloatingIP); err == nil {
		if n := s.st.networks[f.FloatingNetworkID]; n != nil {
			for _, sid := range n.SubnetIDs {
				if sn := s.st.subnets[sid]; sn != nil && sn.CIDR.Contains(a) {
					s.releaseFixedIPLocked(FixedIP{SubnetID: sid, IPAddress: f.FloatingIP})
				}
			}
		}
	}
	s.mu.Unlock()
	if err := s.driver.ReleaseFloatingIP(context.WithoutCancel(r.Context()), f.FloatingIP); err != nil {
		s.log.Error("driver failed to release floating IP", "floating_ip", f.FloatingIP, "err", err)
		neutronDriverFailed(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
