package sim

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"time"
)

// ipPool hands out the addresses of a subnet, skipping the network address, the gateway
// (first host) and the broadcast address. Allocation is lowest-free-first so addresses are
// predictable in tests and reused after release.
type ipPool struct {
	prefix netip.Prefix
	used   map[netip.Addr]bool
	next   netip.Addr // hint: every address below it is in use
}

func newIPPool(p netip.Prefix) *ipPool {
	p = p.Masked()
	first := p.Addr().Next().Next() // skip network address and gateway
	return &ipPool{prefix: p, used: map[netip.Addr]bool{}, next: first}
}

// gateway is the first host address of the subnet.
func (p *ipPool) gateway() netip.Addr { return p.prefix.Addr().Next() }

func (p *ipPool) allocate() (netip.Addr, error) {
	for a := p.next; p.prefix.Contains(a); a = a.Next() {
		if p.used[a] || isBroadcast(p.prefix, a) {
			continue
		}
		p.used[a] = true
		p.next = a.Next()
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("no more IP addresses available on subnet %s", p.prefix)
}

// reserve marks a specific address as used (for a requested fixed IP).
func (p *ipPool) reserve(a netip.Addr) error {
	if !p.prefix.Contains(a) || a == p.prefix.Addr() || a == p.gateway() || isBroadcast(p.prefix, a) {
		return fmt.Errorf("IP address %s is not a valid host address of subnet %s", a, p.prefix)
	}
	if p.used[a] {
		return fmt.Errorf("IP address %s already allocated in subnet %s", a, p.prefix)
	}
	p.used[a] = true
	return nil
}

func (p *ipPool) release(a netip.Addr) {
	delete(p.used, a)
	if a.Less(p.next) && p.prefix.Contains(a) {
		p.next = a
	}
}

func isBroadcast(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	bits := p.Bits()
	for i := 0; i < 4; i++ {
		hostBits := 8*(i+1) - bits
		if hostBits <= 0 {
			continue
		}
		if hostBits > 8 {
			hostBits = 8
		}
		mask := byte(1<<hostBits - 1)
		if b[i]&mask != mask {
			return false
		}
	}
	return true
}

func newMAC() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// addSubnetLocked creates a subnet with its address pool on network n. Caller holds s.mu.
func (s *Sim) addSubnetLocked(n *Network, name string, cidr netip.Prefix) *Subnet {
	now := time.Now().UTC()
	pool := newIPPool(cidr)
	sn := &Subnet{
		ID: newUUID(), Name: name, NetworkID: n.ID, ProjectID: s.ident.projectID,
		CIDR: cidr.Masked(), GatewayIP: pool.gateway(), IPVersion: 4, EnableDHCP: true,
		Created: now, Updated: now, pool: pool,
	}
	s.st.subnets[sn.ID] = sn
	n.SubnetIDs = append(n.SubnetIDs, sn.ID)
	n.RevisionNumber++
	n.Updated = now
	return sn
}

// allocateOnNetworkLocked takes a free address from the first subnet of network n that has
// one. Caller holds s.mu.
func (s *Sim) allocateOnNetworkLocked(n *Network) (FixedIP, error) {
	var lastErr error = fmt.Errorf("network %s has no subnet", n.ID)
	for _, sid := range n.SubnetIDs {
		sn := s.st.subnets[sid]
		if sn == nil {
			continue
		}
		a, err := sn.pool.allocate()
		if err != nil {
			lastErr = err
			continue
		}
		return FixedIP{SubnetID: sn.ID, IPAddress: a.String()}, nil
	}
	return FixedIP{}, lastErr
}

// releaseFixedIPLocked returns an address to its subnet's pool. Caller holds s.mu.
func (s *Sim) releaseFixedIPLocked(ip FixedIP) {
	sn := s.st.subnets[ip.SubnetID]
	if sn == nil {
		return
	}
	if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
		sn.pool.release(a)
	}
}
