package docker

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreeSubnets(t *testing.T) {
	t.Parallel()
	taken := []netip.Prefix{
		netip.MustParsePrefix("172.17.0.0/16"),
		netip.MustParsePrefix("10.231.0.0/24"),
		netip.MustParsePrefix("10.231.2.0/23"), // covers .2 and .3
	}
	free := freeSubnets(subnetBase, taken)
	require.Len(t, free, 253)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.231.1.0/24"), netip.MustParsePrefix("10.231.4.0/24")}, free[:2])
	assert.Empty(t, freeSubnets(subnetBase, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}))
}

func TestPublicPlan(t *testing.T) {
	t.Parallel()
	assert.Equal(t, netip.MustParsePrefix("127.231.7.0/24"), publicPlan(netip.MustParsePrefix("10.231.7.0/24")))
}

func TestBindablePortsDropsPortsHeldOnEveryAddress(t *testing.T) {
	t.Parallel()
	// A host service holding the port where the floating IPs would listen (sshd on
	// 0.0.0.0:22 holds it on every address; the test keeps to loopback).
	held, err := net.Listen("tcp", "127.231.255.1:0")
	require.NoError(t, err)
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	freePort := free.Addr().(*net.TCPAddr).Port
	require.NoError(t, free.Close())

	got := bindablePorts(context.Background(), netip.MustParseAddr("127.231.255.1"), []int{freePort, heldPort}, slog.New(slog.DiscardHandler))
	assert.Equal(t, []int{freePort}, got)
}
