package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// Where a slot's failover address points (SlotStatus.AddressOn).
const (
	AddressOnServer  = "server"  // at the slot's server
	AddressOnOther   = "other"   // at some other port
	AddressOnNone    = "none"    // at nothing: the address is dead
	AddressOnMissing = "missing" // the recorded floating IP no longer exists
)

// SlotStatus is what one slot of a group runs and serves now.
type SlotStatus struct {
	Slot         int    `json:"slot"`
	ServerID     string `json:"server_id,omitempty"`
	ServerName   string `json:"server_name,omitempty"`
	Status       string `json:"status,omitempty"` // Nova status; MISSING when the recorded server is gone
	ImageID      string `json:"image_id,omitempty"`
	ImageVersion string `json:"image_version,omitempty"`
	FixedIP      string `json:"fixed_ip,omitempty"`
	Address      string `json:"address,omitempty"`
	AddressOn    string `json:"address_on,omitempty"` // AddressOnServer, …Other, …None, …Missing
	Health       string `json:"health"`               // healthy, unhealthy: <why>, unknown
}

// GroupStatus is the state of a group as the store records it, checked against the
// cloud: what `remint group show` prints.
type GroupStatus struct {
	Group         string       `json:"group"`
	Count         int          `json:"count"`
	Slots         []SlotStatus `json:"slots"`
	LatestRollout string       `json:"latest_rollout,omitempty"`
	RolloutStatus string       `json:"rollout_status,omitempty"`
	// Missing lists recorded servers and addresses that no longer exist (empty when the
	// state matches the cloud); Stale turns it into the error commands stop with.
	Missing []Missing `json:"missing"`
	// Orphans are servers tagged with the group that nothing records or keeps ([] when
	// there are none).
	Orphans []Orphan `json:"orphans"`
}

// Stale returns a *StaleStateError when the state records resources that are gone.
func (s GroupStatus) Stale() error {
	if len(s.Missing) == 0 {
		return nil
	}
	return &StaleStateError{Group: s.Group, Missing: s.Missing}
}

// Status reads the group's slots from the store and joins each with its server, port,
// failover address and a health probe of the server (with the executor's prober, on
// its fixed IP; "unknown" without one). Nothing is changed. Recorded servers and
// addresses that no longer exist are shown as such and listed in Missing.
func (e *Executor) Status(ctx context.Context) (GroupStatus, error) {
	st := GroupStatus{Group: e.spec.Group, Count: e.spec.Count, Slots: []SlotStatus{}, Orphans: []Orphan{}}
	missing, err := e.CheckRecorded(ctx)
	if err != nil {
		return st, err
	}
	st.Missing = missing
	orphans, err := e.Orphans(ctx, e.now())
	if err != nil {
		return st, err
	}
	st.Orphans = append(st.Orphans, orphans...)
	goneAddress := map[string]bool{}
	for _, m := range missing {
		if m.AddressID != "" {
			goneAddress[m.AddressID] = true
		}
	}
	if r, err := e.store.LatestRollout(ctx, e.spec.Group); err == nil {
		st.LatestRollout, st.RolloutStatus = r.ID, r.Status
	} else if !isNotFound(err) {
		return st, err
	}
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return st, err
	}
	recorded := map[int]store.Slot{}
	for _, sl := range slots {
		recorded[sl.Slot] = sl
	}
	var servers []openstack.Server
	if len(slots) > 0 {
		err = e.do(ctx, func(ctx context.Context) (err error) {
			servers, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{})
			return err
		})
		if err != nil {
			return st, fmt.Errorf("list servers of group %s: %w", e.spec.Group, err)
		}
	}
	byID := map[string]openstack.Server{}
	for _, s := range servers {
		byID[s.ID] = s
	}
	addrs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return st, err
	}
	for slot := range e.spec.Count {
		v := SlotStatus{Slot: slot, Health: "unknown"}
		port := ""
		if sl, ok := recorded[slot]; ok {
			v.ServerID, v.ServerName, v.ImageID, v.ImageVersion = sl.ServerID, sl.ServerName, sl.ImageID, sl.ImageVersion
			if s, ok := byID[sl.ServerID]; ok {
				v.Status, v.FixedIP = s.Status, s.AccessIP
				if port, err = e.portOf(ctx, s.ID); err != nil && !openstack.IsNotFound(err) {
					return st, err
				}
				v.Health = e.probeHealth(ctx, s.ID, s.AccessIP)
			} else {
				v.Status = "MISSING"
			}
		}
		if err := e.slotAddress(ctx, &v, addrs, goneAddress, port); err != nil {
			return st, err
		}
		st.Slots = append(st.Slots, v)
	}
	return st, nil
}

// slotAddress fills in v's failover address and where it points; port is the slot
// server's port ("" when it has none).
func (e *Executor) slotAddress(ctx context.Context, v *SlotStatus, recs []store.Address, gone map[string]bool, port string) error {
	a, ok := e.spec.addressOf(v.Slot)
	if !ok {
		return nil
	}
	if a.AllocateFrom != "" {
		a = manifest.Address{}
		for _, r := range recs {
			if r.Slot == v.Slot && r.ID != "" {
				a.ID, v.Address = r.ID, r.Address
			}
		}
		if a.ID == "" {
			return nil // not allocated yet: the next rebuild allocates it
		}
		if gone[a.ID] {
			v.AddressOn = AddressOnMissing
			return nil
		}
	}
	fip, err := e.resolveAddress(ctx, v.Slot, a)
	if err != nil {
		return err
	}
	v.Address = fip.Address
	switch {
	case fip.PortID == "":
		v.AddressOn = AddressOnNone
	case fip.PortID == port:
		v.AddressOn = AddressOnServer
	default:
		v.AddressOn = AddressOnOther
	}
	return nil
}

// probeHealth probes a server once on its fixed IP (a cloud check: by its id):
// healthy, unhealthy: <why>, or unknown when there is no prober or no address.
func (e *Executor) probeHealth(ctx context.Context, serverID, ip string) string {
	if e.Prober == nil {
		return "unknown"
	}
	if ip = health.Target(e.Prober, serverID, ip); ip == "" {
		return "unknown"
	}
	timeout := e.Policy.Timeout
	if timeout <= 0 {
		timeout = e.spec.Health.Timeout
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := e.Prober.Probe(pctx, ip); err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return "unknown"
		}
		return "unhealthy: " + err.Error()
	}
	return "healthy"
}
