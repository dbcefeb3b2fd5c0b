package failover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// ErrStaleState says the state store records servers or addresses of the group that no
// longer exist in the cloud (the cloud was reset, or they were deleted behind remint's
// back). Acting on such a state fails half-way, so commands check first
// (CheckRecorded) and stop with a *StaleStateError; errors.Is(err, ErrStaleState) holds.
var ErrStaleState = errors.New("recorded servers or addresses no longer exist")

// Missing is one slot (-1: the group-wide address) whose recorded server or failover
// address no longer exists. Only the fields of what is missing are set.
type Missing struct {
	Slot       int    `json:"slot"`
	Name       string `json:"name"` // web-0, or "group address"
	ServerID   string `json:"server_id,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	AddressID  string `json:"address_id,omitempty"`
	Address    string `json:"address,omitempty"`
}

// String is one line naming what is missing.
func (m Missing) String() string {
	var parts []string
	if m.ServerID != "" {
		parts = append(parts, fmt.Sprintf("recorded server %s (%s) no longer exists", orUnknown(m.ServerName), m.ServerID))
	}
	if m.AddressID != "" {
		parts = append(parts, fmt.Sprintf("recorded floating IP %s (%s) no longer exists", orUnknown(m.Address), m.AddressID))
	}
	return m.Name + ": " + strings.Join(parts, "; ")
}

// StaleStateError lists, one line per slot, what the group's state records that the
// cloud no longer has, and how to get out.
type StaleStateError struct {
	Group   string
	Missing []Missing
}

func (e *StaleStateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "group %s: the state records servers or addresses that no longer exist; nothing was changed:", e.Group)
	for _, m := range e.Missing {
		b.WriteString("\n  " + m.String())
	}
	fmt.Fprintf(&b, "\nIf they are gone for good, run `remint group forget %s` to drop these records: the next rebuild then creates servers and allocates addresses afresh.", e.Group)
	return b.String()
}

// Is makes errors.Is(err, ErrStaleState) true.
func (e *StaleStateError) Is(target error) bool { return target == ErrStaleState }

// CheckRecorded compares the group's state with the cloud, touching nothing: every
// recorded slot server must exist, and every recorded (allocated) failover address. It
// returns what is missing, one entry per slot, ordered by slot; an error only when the
// cloud or the store could not be read.
func (e *Executor) CheckRecorded(ctx context.Context) ([]Missing, error) {
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	addrs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	bySlot := map[int]*Missing{}
	missing := func(slot int) *Missing {
		if m, ok := bySlot[slot]; ok {
			return m
		}
		m := &Missing{Slot: slot, Name: e.spec.slotName(slot)}
		if slot < 0 {
			m.Name = "group address"
		}
		bySlot[slot] = m
		return m
	}
	gone, err := e.missingServers(ctx, slots)
	if err != nil {
		return nil, err
	}
	deleting, err := e.deletedByUnfinished(ctx)
	if err != nil {
		return nil, err
	}
	for _, sl := range slots {
		if gone[sl.ServerID] && !deleting[sl.ServerID] {
			m := missing(sl.Slot)
			m.ServerID, m.ServerName = sl.ServerID, sl.ServerName
		}
	}
	for _, a := range addrs {
		if a.ID == "" {
			continue // an allocation not finished yet: the next rebuild completes it
		}
		err := e.do(ctx, func(ctx context.Context) error {
			_, err := e.cloud.GetFloatingIP(ctx, a.ID)
			return err
		})
		switch {
		case openstack.IsNotFound(err):
			m := missing(a.Slot)
			m.AddressID, m.Address = a.ID, a.Address
		case err != nil:
			return nil, fmt.Errorf("check recorded floating IP %s of %s: %w", a.Address, e.spec.slotName(a.Slot), err)
		}
	}
	out := make([]Missing, 0, len(bySlot))
	for _, slot := range slices.Sorted(maps.Keys(bySlot)) {
		out = append(out, *bySlot[slot])
	}
	return out, nil
}

// RequireRecorded is CheckRecorded as a precondition: nil when the state matches the
// cloud, else a *StaleStateError. Plan, rebuild and group show call it before anything.
func (e *Executor) RequireRecorded(ctx context.Context) error {
	missing, err := e.CheckRecorded(ctx)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return &StaleStateError{Group: e.spec.Group, Missing: missing}
	}
	return nil
}

// deletedByUnfinished returns the old servers of the group's unfinished rollout: a slot
// in unavailable mode deletes its old server before the replacement is recorded, so
// until the rollout is resumed the slot's record may name a server that is gone on
// purpose. That is not a stale state.
func (e *Executor) deletedByUnfinished(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	r, err := e.store.UnfinishedRollout(ctx, e.spec.Group)
	if isNotFound(err) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	steps, err := e.store.Steps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, st := range steps {
		if st.OldServerID != "" {
			out[st.OldServerID] = true
		}
	}
	return out, nil
}

// missingServers returns the ids of recorded slot servers the cloud does not list. The
// group's servers are listed by name first; ids not found there are looked for among
// every server of the project (an adopted server may carry another name), so only a
// server that is really gone counts.
func (e *Executor) missingServers(ctx context.Context, slots []store.Slot) (map[string]bool, error) {
	gone := map[string]bool{}
	if len(slots) == 0 {
		return gone, nil
	}
	for _, opts := range []openstack.ListServersOpts{{NamePrefix: e.spec.Group + "-"}, {}} {
		var servers []openstack.Server
		err := e.do(ctx, func(ctx context.Context) (err error) {
			servers, err = e.cloud.ListServers(ctx, opts)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list servers of group %s to check its recorded servers: %w", e.spec.Group, err)
		}
		exists := map[string]bool{}
		for _, s := range servers {
			exists[s.ID] = true
		}
		clear(gone)
		for _, sl := range slots {
			if !exists[sl.ServerID] {
				gone[sl.ServerID] = true
			}
		}
		if len(gone) == 0 {
			break
		}
	}
	return gone, nil
}

// Forgotten is one record Forget dropped.
type Forgotten struct {
	Slot    int    `json:"slot"`
	Kind    string `json:"kind"` // "server", "address" or "rollout"
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"` // server name or address
	Missing bool   `json:"missing"`        // it no longer existed (false: dropped by --all)
}

func (f Forgotten) String() string {
	if f.Kind == "rollout" {
		return fmt.Sprintf("abandoned unfinished rollout %s: marked failed", f.ID)
	}
	what := "server"
	if f.Kind == "address" {
		what = "floating IP"
	}
	why := "no longer exists"
	if !f.Missing {
		why = "still exists; remint no longer manages it"
	}
	return fmt.Sprintf("forgot %s %s (%s): %s", what, orUnknown(f.Name), f.ID, why)
}

// Forget drops the group's state records of servers and failover addresses that no
// longer exist (all of them with all), so that the next rebuild creates servers and
// allocates addresses afresh. Nothing in the cloud is touched: with all, servers and
// addresses that still exist are left running, unmanaged. An unfinished rollout is
// left alone unless all, which marks it failed (it could not be resumed without its
// records). The caller must hold the group's lease.
func (e *Executor) Forget(ctx context.Context, all bool) ([]Forgotten, error) {
	missing, err := e.CheckRecorded(ctx)
	if err != nil {
		return nil, err
	}
	goneServer, goneAddress := map[string]bool{}, map[string]bool{}
	for _, m := range missing {
		goneServer[m.ServerID] = m.ServerID != ""
		goneAddress[m.AddressID] = m.AddressID != ""
	}
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	addrs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	var out []Forgotten
	for _, sl := range slots {
		if !all && !goneServer[sl.ServerID] {
			continue
		}
		if err := e.store.DeleteSlot(ctx, e.spec.Group, sl.Slot); err != nil {
			return out, err
		}
		out = append(out, Forgotten{Slot: sl.Slot, Kind: "server", ID: sl.ServerID, Name: sl.ServerName, Missing: goneServer[sl.ServerID]})
	}
	for _, a := range addrs {
		if !all && !goneAddress[a.ID] {
			continue
		}
		if err := e.store.DeleteAddress(ctx, e.spec.Group, a.Slot); err != nil {
			return out, err
		}
		out = append(out, Forgotten{Slot: a.Slot, Kind: "address", ID: a.ID, Name: a.Address, Missing: goneAddress[a.ID]})
	}
	if all {
		if r, err := e.store.UnfinishedRollout(ctx, e.spec.Group); err == nil {
			if err := e.store.SetRolloutStatus(ctx, r.ID, store.RolloutFailed, "abandoned by remint group forget --all", e.now()); err != nil {
				return out, err
			}
			out = append(out, Forgotten{Slot: -1, Kind: "rollout", ID: r.ID})
		} else if !isNotFound(err) {
			return out, err
		}
	}
	return out, nil
}

// ForgetGroup is the forget use case, what `remint group forget` runs: with the group's
// lease held (a command changing the group is refused, never raced), Executor.Forget.
func ForgetGroup(ctx context.Context, d Deps, all bool) ([]Forgotten, error) {
	ex, _, err := d.executor(d.Spec)
	if err != nil {
		return nil, err
	}
	l, err := d.acquire(ctx, d.Spec.Group)
	if err != nil {
		return nil, err
	}
	defer l.Release(ctx)
	return ex.Forget(l.Context(), all)
}
