package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// Default address plan: the tenant network and the floating-IP pool of `remint sim`.
var (
	DefaultPrivateCIDR = netip.MustParsePrefix("127.10.0.0/16")
	DefaultPublicCIDR  = netip.MustParsePrefix("127.20.0.0/16")
)

// Second octets NewFree picks /16s from; clear of the defaults (127.10, 127.20) and of
// 127.0–127.63, where other software tends to live (127.0.0.1, 127.0.1.1, 127.0.0.53).
const freeFirst, freeLast = 64, 250

// reservation holds a /16 for one driver: a listener on the subnet's gateway address
// (x.y.0.1, which IPAM never hands to a server) on the workload port. Another simulator
// probing the same /16 fails to bind it and moves on, across processes.
type reservation struct {
	prefix netip.Prefix
	ln     net.Listener
}

// reserveFreePlan picks two unused /16s in 127.64.0.0–127.250.255.255 in random order and
// reserves them by binding their gateway addresses on port.
func reserveFreePlan(port int) (private, public *reservation, err error) {
	octets := rand.Perm(freeLast - freeFirst + 1)
	var got []*reservation
	for _, o := range octets {
		r, err := reserve(byte(freeFirst+o), port)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue // another simulator (or something else) holds it
			}
			for _, g := range got {
				_ = g.ln.Close()
			}
			return nil, nil, err
		}
		got = append(got, r)
		if len(got) == 2 {
			return got[0], got[1], nil
		}
	}
	for _, g := range got {
		_ = g.ln.Close()
	}
	return nil, nil, fmt.Errorf("reserve loopback address plan: every /16 in 127.%d-127.%d is taken on port %d", freeFirst, freeLast, port)
}

func reserve(second byte, port int) (*reservation, error) {
	return reservePrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{127, second, 0, 0}), 16), port)
}

// reservePrefix binds the gateway address (first host) of prefix on port.
func reservePrefix(prefix netip.Prefix, port int) (*reservation, error) {
	prefix = prefix.Masked()
	gw := prefix.Addr().Next()
	ln, err := net.Listen("tcp", net.JoinHostPort(gw.String(), strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("reserve %s: %w", prefix, err)
	}
	return &reservation{prefix: prefix, ln: ln}, nil
}
