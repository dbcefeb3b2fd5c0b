package sim

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// This file holds the calls one service makes into another's state, so that each
// service's HTTP handlers stay in their own files. Every function here expects the caller
// to hold s.mu and never calls a driver; the driver work a change implies is returned for
// the caller to do after unlocking.

// fipChange is a floating-IP retarget the caller must apply with Driver.SetFloatingIP after
// releasing s.mu. FixedIP "" means detach.
type fipChange struct {
	FloatingIP string
	FixedIP    string
}

// createPortLocked creates a port on network n with one allocated fixed IP, for device
// deviceID owned by owner ("compute:nova" for servers, "" for a bare port).
func (s *Sim) createPortLocked(n *Network, name, deviceID, owner string, securityGroups []string) (*Port, error) {
	ip, err := s.allocateOnNetworkLocked(n)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	p := &Port{
		ID: newUUID(), Name: name, NetworkID: n.ID, ProjectID: s.ident.projectID,
		MACAddress: newMAC(), FixedIPs: []FixedIP{ip}, DeviceID: deviceID, DeviceOwner: owner,
		Status: "DOWN", AdminStateUp: true, SecurityGroups: securityGroups,
		RevisionNumber: 1, Created: now, Updated: now,
	}
	if deviceID != "" {
		p.Status = "ACTIVE"
	}
	s.st.ports[p.ID] = p
	return p, nil
}

// deletePortLocked deletes port id, releases its addresses and disassociates every
// floating IP that pointed at it (as Neutron does: the floating IP stays allocated with
// port_id null). It returns the floating-IP detaches to apply.
func (s *Sim) deletePortLocked(id string) []fipChange {
	p := s.st.ports[id]
	if p == nil {
		return nil
	}
	var changes []fipChange
	for _, fid := range slices.Sorted(maps.Keys(s.st.fips)) {
		f := s.st.fips[fid]
		if f.PortID == id {
			s.disassociateFIPLocked(f)
			changes = append(changes, fipChange{FloatingIP: f.FloatingIP})
		}
	}
	for _, ip := range p.FixedIPs {
		s.releaseFixedIPLocked(ip)
	}
	delete(s.st.ports, id)
	return changes
}

// portsOfDeviceLocked returns the ports whose device_id is deviceID, oldest first.
func (s *Sim) portsOfDeviceLocked(deviceID string) []*Port {
	var out []*Port
	for _, id := range slices.Sorted(maps.Keys(s.st.ports)) {
		if p := s.st.ports[id]; p.DeviceID == deviceID {
			out = append(out, p)
		}
	}
	sortPortsByCreated(out)
	return out
}

func sortPortsByCreated(ps []*Port) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Created.Before(ps[j-1].Created); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// associateFIPLocked points floating IP f at port p (its first fixed IP, or fixedIP when
// given) and returns the driver change to apply.
func (s *Sim) associateFIPLocked(f *FloatingIP, p *Port, fixedIP string) (fipChange, error) {
	if len(p.FixedIPs) == 0 {
		return fipChange{}, fmt.Errorf("port %s has no fixed IP", p.ID)
	}
	if fixedIP == "" {
		fixedIP = p.FixedIPs[0].IPAddress
	}
	now := time.Now().UTC()
	f.PortID = p.ID
	f.FixedIP = fixedIP
	f.RouterID = s.routerForLocked(f.FloatingNetworkID)
	f.Status = "ACTIVE"
	f.RevisionNumber++
	f.Updated = now
	return fipChange{FloatingIP: f.FloatingIP, FixedIP: fixedIP}, nil
}

// disassociateFIPLocked clears f's association.
func (s *Sim) disassociateFIPLocked(f *FloatingIP) {
	f.PortID, f.FixedIP, f.RouterID = "", "", ""
	f.Status = "DOWN"
	f.RevisionNumber++
	f.Updated = time.Now().UTC()
}

// routerForLocked returns the id of the router whose gateway is external network netID.
func (s *Sim) routerForLocked(netID string) string {
	for _, id := range slices.Sorted(maps.Keys(s.st.routers)) {
		if s.st.routers[id].NetworkID == netID {
			return id
		}
	}
	return ""
}
