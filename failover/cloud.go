package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
)

// The cloud as failover consumes it. Each part declares the few calls it makes:
//   - ServerLauncher (step_create.go): create a replacement, wait for it to be ACTIVE;
//   - ServerInventory (here): list a group's servers by name and tags, delete one;
//   - ServerWatcher (watch.go): the batched status poll and ports of many servers;
//   - AddressMover (step_move.go): read a floating IP, move it with the revision check,
//     find a server's port;
//   - AddressAllocator (addresses.go): find or allocate the manifest's floating IPs;
//   - AddressReleaser (step_remove.go): give a removed slot's floating IP back.
//
// *openstack.Client satisfies each of them without knowing about failover.

// ServerInventory lists and deletes servers: finding a group's servers (Current, Adopt),
// a rollout's tagged servers (resume, cleanup, orphans), and retiring old servers.
type ServerInventory interface {
	ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error)
	// DeleteServer deletes a server; deleting one already gone succeeds.
	DeleteServer(ctx context.Context, id string) error
}

// Cloud is everything the Executor calls, composed of the parts' interfaces.
type Cloud interface {
	ServerLauncher
	ServerInventory
	ServerWatcher
	AddressMover
	AddressAllocator
	AddressReleaser
}

var _ Cloud = (*openstack.Client)(nil)

// Server metadata keys remint writes on every server it creates.
const (
	MetaGroup        = "remint_group"
	MetaSlot         = "remint_slot"
	MetaRollout      = "remint_rollout"
	MetaImageVersion = "remint_image_version"
)

// tagged lists the servers rollout rolloutID created, by their remint_rollout tag.
func (e *Executor) tagged(ctx context.Context, rolloutID string) ([]openstack.Server, error) {
	var out []openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		out, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: e.spec.Group + "-", Metadata: map[string]string{MetaRollout: rolloutID}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list servers of rollout %s: %w", rolloutID, err)
	}
	return out, nil
}
