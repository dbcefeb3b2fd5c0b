package failover

import (
	"context"

	"github.com/remint-dev/remint/internal/openstack"
)

// ServerAPI is the compute side failover needs: create, wait, list by tag, delete.
type ServerAPI interface {
	CreateServer(ctx context.Context, spec openstack.ServerSpec) (openstack.Server, error)
	WaitServerActive(ctx context.Context, id string) (openstack.Server, error)
	ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error)
	DeleteServer(ctx context.Context, id string) error
}

// AddressAPI is the network side: read a floating IP, move it with a revision check,
// find the port of a server.
type AddressAPI interface {
	GetFloatingIP(ctx context.Context, id string) (openstack.FloatingIP, error)
	AssociateFloatingIP(ctx context.Context, fipID, portID string, revision int) (openstack.FloatingIP, error)
	DisassociateFloatingIP(ctx context.Context, fipID string, revision int) (openstack.FloatingIP, error)
	PortsOfServer(ctx context.Context, serverID string) ([]openstack.Port, error)
}

// AddressResolver finds or allocates the floating IPs named in the manifest.
type AddressResolver interface {
	FindFloatingIP(ctx context.Context, address string) (openstack.FloatingIP, error)
	AllocateFloatingIP(ctx context.Context, networkRef, description string) (openstack.FloatingIP, error)
	ListFloatingIPs(ctx context.Context, opts openstack.ListFloatingIPsOpts) ([]openstack.FloatingIP, error)
}

// Cloud is everything the executor calls; *openstack.Client satisfies it.
type Cloud interface {
	ServerAPI
	AddressAPI
	AddressResolver
}

// Server metadata keys remint writes on every server it creates.
const (
	MetaGroup        = "remint_group"
	MetaSlot         = "remint_slot"
	MetaRollout      = "remint_rollout"
	MetaImageVersion = "remint_image_version"
)
