package inplace

import (
	"context"
	"io"
	"io/fs"
	"net"

	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
)

// Conn is an SSH connection to a server whose host key was verified.
type Conn interface {
	debian.Runner
	// DialContext opens a connection from the server (the Docker engine's unix socket).
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// Upload writes a file on the server atomically, its content checked by SHA-256.
	Upload(ctx context.Context, path string, mode fs.FileMode, content io.Reader, opts ...remote.UploadOption) error
	Close() error
}

// Dialer logs in to servers, verifying each one's host key.
type Dialer interface {
	Dial(ctx context.Context, s Server) (Conn, error)
}

// Rebooter reboots a server through the cloud and waits until the cloud says it is
// ACTIVE again; *openstack.Client implements it.
type Rebooter interface {
	RebootServer(ctx context.Context, id string, hard bool) error
	WaitServerActive(ctx context.Context, id string) (openstack.Server, error)
}
