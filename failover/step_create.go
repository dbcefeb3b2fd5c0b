package failover

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// ServerLauncher creates replacements and waits for them to boot: the create, boot and
// check steps consume it.
type ServerLauncher interface {
	CreateServer(ctx context.Context, spec openstack.ServerSpec) (openstack.Server, error)
	// WaitServerActive returns the server once it is ACTIVE (with its fixed IP), or an
	// error when it went to ERROR or the adapter's wait ran out.
	WaitServerActive(ctx context.Context, id string) (openstack.Server, error)
}

// replacementName is the name of slot st's replacement in rollout r: <group>-<slot>-<rollout>.
func (e *Executor) replacementName(r *run, st *store.Step) string {
	return fmt.Sprintf("%s-%d-%s", e.spec.Group, st.Slot, r.rollout.ID)
}

// serverSpec is the replacement to create: the group's flavor, network, key, security
// groups and user data, from the rollout's image, tagged with group, slot, rollout and
// image version so that a server created just before a crash is found again (resume.go).

func (e *Executor) serverSpec(r *run, st *store.Step) openstack.ServerSpec {
	md := maps.Clone(e.spec.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	md[MetaGroup] = e.spec.Group
	md[MetaSlot] = strconv.Itoa(st.Slot)
	md[MetaRollout] = r.rollout.ID
	md[MetaImageVersion] = r.rollout.ImageVersion
	return openstack.ServerSpec{
		Name: st.NewServerName, ImageID: r.rollout.ImageID, Flavor: e.spec.Flavor, Network: e.spec.Network,
		KeyName: e.spec.KeyName, SecurityGroups: e.spec.SecurityGroups, UserData: []byte(e.spec.UserData), Metadata: md,
	}
}

// create is StateCreating: the replacement, named and recorded before, is created. A
// crash between the create and the next state is healed by resume.go (adopt by tags).
func (e *Executor) create(ctx context.Context, r *run, st *store.Step) error {
	var srv openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		srv, err = e.cloud.CreateServer(ctx, e.serverSpec(r, st))
		return err
	})
	if err != nil {
		return fmt.Errorf("create server %s: %w", st.NewServerName, err)
	}
	if err := e.crashPoint("created"); err != nil {
		return err
	}
	st.NewServerID = srv.ID
	r.created(srv.ID, e.now())
	return e.enter(ctx, st, StateBooting, srv.ID, "created; waiting for ACTIVE")
}
