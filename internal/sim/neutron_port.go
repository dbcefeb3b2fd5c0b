package sim

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// neutronBindingHost is the host compute ports are bound to.
const neutronBindingHost = "remint-sim"

func neutronPortNotFound(id string) *neutronErr {
	return neutronNotFound("PortNotFound", "Port "+id+" could not be found.")
}

// neutronPortJSON renders a port as in references 41 and 51. Security groups are stored by
// id; the name "default" (as Nova passes it) stands for the default group.
func (s *Sim) neutronPortJSON(p *Port) *kvObject {
	fixed := make([]*kvObject, 0, len(p.FixedIPs))
	for _, ip := range p.FixedIPs {
		fixed = append(fixed, newKV().set("subnet_id", ip.SubnetID).set("ip_address", ip.IPAddress))
	}
	sgs := make([]string, 0, len(p.SecurityGroups))
	for _, sg := range p.SecurityGroups {
		sgs = append(sgs, s.neutronSecurityGroupRefLocked(sg))
	}
	o := newKV().set("id", p.ID).set("name", p.Name).set("network_id", p.NetworkID).
		set("tenant_id", p.ProjectID).set("mac_address", p.MACAddress).
		set("admin_state_up", p.AdminStateUp).set("status", p.Status).
		set("device_id", p.DeviceID).set("device_owner", p.DeviceOwner).
		set("fixed_ips", fixed).set("allowed_address_pairs", []any{}).
		set("extra_dhcp_opts", []any{}).set("security_groups", sgs).set("description", "").
		set("binding:vnic_type", "normal").set("binding:profile", map[string]any{})
	if strings.HasPrefix(p.DeviceOwner, "compute:") {
		o.set("binding:host_id", neutronBindingHost).set("binding:vif_type", "bridge").
			set("binding:vif_details", newKV().set("connectivity", "l2").set("port_filter", true).
				set("bound_drivers", map[string]string{"0": "linuxbridge"}))
	} else {
		o.set("binding:host_id", "").set("binding:vif_type", "unbound").
			set("binding:vif_details", map[string]any{})
	}
	return o.set("port_security_enabled", true).set("tags", []string{}).
		set("created_at", zuluSeconds(p.Created)).set("updated_at", zuluSeconds(p.Updated)).
		set("revision_number", p.RevisionNumber).set("project_id", p.ProjectID)
}

func (s *Sim) neutronListPorts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var ports []*Port
	for _, id := range slices.Sorted(maps.Keys(s.st.ports)) {
		ports = append(ports, s.st.ports[id])
	}
	sortPortsByCreated(ports)
	var objs []*kvObject
	for _, p := range ports {
		objs = append(objs, s.neutronPortJSON(p))
	}
	s.mu.Unlock()
	s.neutronList(w, r, "ports", objs, neutronPortNotFound)
}

func (s *Sim) neutronGetPort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	var o *kvObject
	if p := s.st.ports[id]; p != nil {
		o = s.neutronPortJSON(p)
	}
	s.mu.Unlock()
	if o == nil {
		neutronPortNotFound(id).write(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "port", o)
}

// neutronCreatePort creates a port with one address allocated on its network (reference
// 40). Requesting specific fixed IPs is not supported.
func (s *Sim) neutronCreatePort(w http.ResponseWriter, r *http.Request) {
	attrs, nerr := neutronDecode(r, "port", "network_id", "name", "device_id", "device_owner",
		"admin_state_up", "security_groups", "tenant_id", "project_id")
	if nerr != nil {
		nerr.write(w)
		return
	}
	var strs [4]string
	for i, k := range []string{"network_id", "name", "device_id", "device_owner"} {
		if strs[i], nerr = neutronString(attrs, k); nerr != nil {
			nerr.write(w)
			return
		}
	}
	netID, name, deviceID, owner := strs[0], strs[1], strs[2], strs[3]
	if netID == "" {
		neutronBadRequest("Failed to parse request. Required attribute 'network_id' not specified").write(w)
		return
	}
	adminUp, nerr := neutronBool(attrs, "admin_state_up", true)
	if nerr != nil {
		nerr.write(w)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	sgs, nerr := s.neutronSecurityGroupsLocked(attrs)
	if nerr != nil {
		nerr.write(w)
		return
	}
	n := s.st.networks[netID]
	if n == nil {
		neutronNetworkNotFound(netID).write(w)
		return
	}
	p, err := s.createPortLocked(n, name, deviceID, owner, sgs)
	if err != nil {
		neutronIPExhausted(netID).write(w)
		return
	}
	p.AdminStateUp = adminUp
	neutronWriteOne(w, r, http.StatusCreated, "port", s.neutronPortJSON(p))
}

func neutronIPExhausted(netID string) *neutronErr {
	return &neutronErr{http.StatusConflict, "IpAddressGenerationFailure",
		"No more IP addresses available on network " + netID + "."}
}

// neutronSecurityGroupsLocked reads the security_groups attribute: absent means the
// default group, [] means none, otherwise every entry must be a known group id.
func (s *Sim) neutronSecurityGroupsLocked(attrs map[string]json.RawMessage) ([]string, *neutronErr) {
	raw, ok := attrs["security_groups"]
	if !ok {
		return []string{s.defaultSecurityGroupIDLocked()}, nil
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, neutronBadRequest("Invalid input for security_groups. Reason: '" + string(raw) + "' is not a list.")
	}
	out := []string{}
	for _, id := range ids {
		if id != s.defaultSecurityGroupIDLocked() {
			return nil, neutronSecurityGroupNotFound(id)
		}
		out = append(out, id)
	}
	return out, nil
}

// neutronUpdatePort changes a port's name, admin state, device or security groups,
// honouring If-Match revision constraints.
func (s *Sim) neutronUpdatePort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	attrs, nerr := neutronDecode(r, "port", "name", "device_id", "device_owner", "admin_state_up", "security_groups")
	if nerr != nil {
		nerr.write(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.ports[id]
	if p == nil {
		neutronPortNotFound(id).write(w)
		return
	}
	if nerr := neutronIfMatch(r, p.RevisionNumber); nerr != nil {
		nerr.write(w)
		return
	}
	next := *p
	for _, k := range []string{"name", "device_id", "device_owner"} {
		if _, ok := attrs[k]; !ok {
			continue
		}
		v, nerr := neutronString(attrs, k)
		if nerr != nil {
			nerr.write(w)
			return
		}
		switch k {
		case "name":
			next.Name = v
		case "device_id":
			next.DeviceID = v
		case "device_owner":
			next.DeviceOwner = v
		}
	}
	if next.AdminStateUp, nerr = neutronBool(attrs, "admin_state_up", p.AdminStateUp); nerr != nil {
		nerr.write(w)
		return
	}
	if _, ok := attrs["security_groups"]; ok {
		if next.SecurityGroups, nerr = s.neutronSecurityGroupsLocked(attrs); nerr != nil {
			nerr.write(w)
			return
		}
	}
	// A port is ACTIVE while bound to a device, as createPortLocked has it.
	next.Status = "DOWN"
	if next.DeviceID != "" {
		next.Status = "ACTIVE"
	}
	next.RevisionNumber++
	next.Updated = time.Now().UTC()
	*p = next
	neutronWriteOne(w, r, http.StatusOK, "port", s.neutronPortJSON(p))
}

// neutronDeletePort deletes a port (reference 48); floating IPs pointing at it stay
// allocated with port_id null, and the driver stops forwarding them before the answer.
func (s *Sim) neutronDeletePort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	order := &s.neutron().fipOrder
	order.Lock()
	defer order.Unlock()
	s.mu.Lock()
	p := s.st.ports[id]
	if p == nil {
		s.mu.Unlock()
		neutronPortNotFound(id).write(w)
		return
	}
	if nerr := neutronIfMatch(r, p.RevisionNumber); nerr != nil {
		s.mu.Unlock()
		nerr.write(w)
		return
	}
	changes := s.deletePortLocked(id)
	s.mu.Unlock()
	if err := s.applyFIPChanges(r.Context(), changes); err != nil {
		neutronDriverFailed(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
