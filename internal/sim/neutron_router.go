package sim

import (
	"maps"
	"net/http"
	"slices"
	"sort"
)

// Routers and the default security group: enough for clients that look them up (the
// openstack CLI resolves "default" when creating a server). Neither can be created or
// changed through the simulator's API.

func neutronRouterNotFound(id string) *neutronErr {
	return neutronNotFound("RouterNotFound", "Router "+id+" could not be found")
}

func neutronSecurityGroupNotFound(id string) *neutronErr {
	return neutronNotFound("SecurityGroupNotFound", "Security group "+id+" does not exist")
}

// neutronRouterJSON renders a router with its external gateway. The gateway's own address
// is not modelled, so external_fixed_ips is empty.
func (s *Sim) neutronRouterJSON(rt *Router) *kvObject {
	var gw any
	created := s.neutron().sgCreated
	if n := s.st.networks[rt.NetworkID]; n != nil {
		gw = newKV().set("network_id", n.ID).set("external_fixed_ips", []any{}).set("enable_snat", true)
		created = n.Created
	}
	return newKV().set("id", rt.ID).set("name", rt.Name).set("tenant_id", rt.ProjectID).
		set("admin_state_up", true).set("status", "ACTIVE").set("external_gateway_info", gw).
		set("description", "").set("availability_zones", []string{"nova"}).
		set("availability_zone_hints", []string{}).set("routes", []any{}).
		set("flavor_id", nil).set("distributed", false).set("ha", false).set("tags", []string{}).
		set("created_at", zuluSeconds(created)).set("updated_at", zuluSeconds(created)).
		set("revision_number", 1).set("project_id", rt.ProjectID)
}

func (s *Sim) neutronListRouters(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var objs []*kvObject
	for _, id := range slices.Sorted(maps.Keys(s.st.routers)) {
		objs = append(objs, s.neutronRouterJSON(s.st.routers[id]))
	}
	s.mu.Unlock()
	s.neutronList(w, r, "routers", objs, neutronRouterNotFound)
}

func (s *Sim) neutronGetRouter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	var o *kvObject
	if rt := s.st.routers[id]; rt != nil {
		o = s.neutronRouterJSON(rt)
	}
	s.mu.Unlock()
	if o == nil {
		neutronRouterNotFound(id).write(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "router", o)
}

// defaultSecurityGroupIDLocked is the id of the project's default security group; it is
// derived from the project id so it is stable for the simulator's lifetime.
func (s *Sim) defaultSecurityGroupIDLocked() string {
	return neutronStableUUID("security-group/default/" + s.ident.projectID)
}

// neutronSecurityGroupRefLocked maps a security group reference stored on a port (an id,
// or the name "default" as Nova passes it) to the group's id.
func (s *Sim) neutronSecurityGroupRefLocked(ref string) string {
	if ref == DefaultSecurityGroup {
		return s.defaultSecurityGroupIDLocked()
	}
	return ref
}

// neutronDefaultSecurityGroupLocked renders the default group with Neutron's default
// rules: all egress, and ingress from members of the group, for IPv4 and IPv6.
func (s *Sim) neutronDefaultSecurityGroupLocked() *kvObject {
	id := s.defaultSecurityGroupIDLocked()
	project := s.ident.projectID
	created := zuluSeconds(s.neutron().sgCreated)
	var rules []any
	for _, rule := range []struct{ direction, ethertype string }{
		{"egress", "IPv4"}, {"egress", "IPv6"}, {"ingress", "IPv4"}, {"ingress", "IPv6"},
	} {
		var remote any
		if rule.direction == "ingress" {
			remote = id
		}
		rules = append(rules, newKV().
			set("id", neutronStableUUID("security-group-rule/"+id+"/"+rule.direction+"/"+rule.ethertype)).
			set("tenant_id", project).set("security_group_id", id).set("ethertype", rule.ethertype).
			set("direction", rule.direction).set("protocol", nil).set("port_range_min", nil).
			set("port_range_max", nil).set("remote_ip_prefix", nil).set("remote_address_group_id", nil).
			set("normalized_cidr", nil).set("remote_group_id", remote).set("description", "").
			set("tags", []string{}).set("created_at", created).set("updated_at", created).
			set("revision_number", 0).set("project_id", project))
	}
	sort.SliceStable(rules, func(i, j int) bool {
		return rules[i].(*kvObject).vals["id"].(string) < rules[j].(*kvObject).vals["id"].(string)
	})
	return newKV().set("id", id).set("name", DefaultSecurityGroup).set("tenant_id", project).
		set("description", "Default security group").set("security_group_rules", rules).
		set("tags", []string{}).set("created_at", created).set("updated_at", created).
		set("revision_number", 1).set("project_id", project).set("stateful", true).set("shared", false)
}

func (s *Sim) neutronListSecurityGroups(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	objs := []*kvObject{s.neutronDefaultSecurityGroupLocked()}
	s.mu.Unlock()
	s.neutronList(w, r, "security_groups", objs, neutronSecurityGroupNotFound)
}

func (s *Sim) neutronGetSecurityGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	o := s.neutronDefaultSecurityGroupLocked()
	s.mu.Unlock()
	if id != o.vals["id"] {
		neutronSecurityGroupNotFound(id).write(w)
		return
	}
	neutronWriteOne(w, r, http.StatusOK, "security_group", o)
}
