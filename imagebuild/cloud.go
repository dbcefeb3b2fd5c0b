package imagebuild

import (
	"context"

	"github.com/remint-dev/remint/internal/openstack"
)

// Servers is what the pipeline does with Nova servers.
type Servers interface {
	CreateServer(ctx context.Context, spec openstack.ServerSpec) (openstack.Server, error)
	WaitServerActive(ctx context.Context, id string) (openstack.Server, error)
	ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error)
	DeleteServer(ctx context.Context, id string) error
	WaitServerDeleted(ctx context.Context, id string) error
	StopServer(ctx context.Context, id string) error
	WaitServerStatus(ctx context.Context, id, status string) (openstack.Server, error)
	ConsoleLog(ctx context.Context, id string, lines int) (string, error)
	CreateServerImage(ctx context.Context, serverID, name string, metadata map[string]string) (string, error)
}

// Images is what the pipeline does with Glance images (the catalog does the rest).
type Images interface {
	GetImage(ctx context.Context, id string) (openstack.Image, error)
	ListImages(ctx context.Context, opts openstack.ListImagesOpts) ([]openstack.Image, error)
	WaitImageActive(ctx context.Context, id string) (openstack.Image, error)
	DeleteImage(ctx context.Context, id string) error
}

// Keypairs is what the pipeline does with Nova keypairs.
type Keypairs interface {
	CreateKeypair(ctx context.Context, name, publicKey string) (openstack.Keypair, error)
	GetKeypair(ctx context.Context, name string) (openstack.Keypair, error)
	ListKeypairs(ctx context.Context) ([]openstack.Keypair, error)
	DeleteKeypair(ctx context.Context, name string) error
}

// Addresses resolves a floating address (internal/remote asks, to find the server
// behind an address it dials).
type Addresses interface {
	FindFloatingIP(ctx context.Context, address string) (openstack.FloatingIP, error)
}

// Cloud is every cloud call the pipeline makes; *openstack.Client implements it.
type Cloud interface {
	Servers
	Images
	Keypairs
	Addresses
}
