package failover

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// Orphan is a server that carries the group's tag (remint_group) but that no slot
// records and nothing keeps: not a slot's server, not an old server kept for rollback,
// not a server of the group's unfinished rollout. Such servers are left behind by a
// crash between create and record, a failed cleanup, or two processes changing one
// group at once (what the group lease now prevents).
type Orphan struct {
	ServerID   string    `json:"server_id"`
	ServerName string    `json:"server_name"`
	Status     string    `json:"status"`
	Rollout    string    `json:"rollout,omitempty"` // its remint_rollout tag
	Created    time.Time `json:"created"`
	// Age is how old the server was when it was found.
	Age time.Duration `json:"age_ns"`
	// Why says how it came to be an orphan.
	Why string `json:"why"`
}

func (o Orphan) String() string {
	return fmt.Sprintf("%s (%s), %s old: %s", o.ServerName, shortID(o.ServerID), o.Age.Round(time.Second), o.Why)
}

// OrphanMinAge is how old an orphan must be before a rebuild deletes it: the health
// deadline (the longest a replacement is checked before it is recorded as healthy or
// failed) plus the lease TTL (the longest a holder that lost its lease keeps working).
// Holding the group's lease already guarantees no other rollout runs; the age keeps a
// server of a holder that only just lost its lease out of reach.
func OrphanMinAge(spec Spec, leaseTTL time.Duration) time.Duration {
	return spec.Health.Deadline + leaseTTL
}

// Orphans lists the group's orphans at now, oldest first. Only servers tagged
// remint_group=<group> are considered: an untagged server is never remint's to delete.
// It changes nothing.
func (e *Executor) Orphans(ctx context.Context, now time.Time) ([]Orphan, error) {
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	inSlot := map[string]bool{}
	for _, sl := range slots {
		inSlot[sl.ServerID] = true
	}
	rollouts, err := e.store.Rollouts(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	type ref struct {
		ro   store.Rollout
		st   store.Step
		role string // "new" or "old"
	}
	refs := map[string]ref{}
	known := map[string]store.Rollout{}
	kept := map[string]bool{} // kept for rollback, or in use by the unfinished rollout
	unfinished := ""
	for _, ro := range rollouts {
		known[ro.ID] = ro
		steps, err := e.store.Steps(ctx, ro.ID)
		if err != nil {
			return nil, err
		}
		running := ro.Status == store.RolloutRunning
		if running {
			unfinished = ro.ID
		}
		for _, st := range steps {
			for _, r := range []struct{ id, role string }{{st.NewServerID, "new"}, {st.OldServerID, "old"}} {
				if r.id == "" {
					continue
				}
				if _, seen := refs[r.id]; !seen {
					refs[r.id] = ref{ro, st, r.role} // rollouts come newest first: the latest mention wins
				}
				switch {
				case running:
					kept[r.id] = true
				case st.State == StateKept && r.role == "old":
					kept[r.id] = true
				case st.State == StateRollingBack:
					kept[r.id] = true
				}
			}
		}
	}
	var servers []openstack.Server
	err = e.do(ctx, func(ctx context.Context) (err error) {
		servers, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{Metadata: map[string]string{MetaGroup: e.spec.Group}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list servers tagged %s=%s: %w", MetaGroup, e.spec.Group, err)
	}
	var out []Orphan
	for _, s := range servers {
		tag := s.Metadata[MetaRollout]
		if inSlot[s.ID] || kept[s.ID] || s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		if tag != "" && tag == unfinished {
			continue // the unfinished rollout adopts or deletes it when it resumes
		}
		o := Orphan{ServerID: s.ID, ServerName: s.Name, Status: s.Status, Rollout: tag, Created: s.Created, Age: max(now.Sub(s.Created), 0)}
		r, referenced := refs[s.ID]
		ro, tagKnown := known[tag]
		switch {
		case referenced && r.role == "new":
			o.Why = fmt.Sprintf("replacement for slot %s in rollout %s (%s), left %s: never put into the slot", e.spec.slotName(r.st.Slot), r.ro.ID, r.ro.Status, r.st.State)
		case referenced:
			o.Why = fmt.Sprintf("old server of slot %s, replaced by rollout %s (%s); step %s, not kept for rollback", e.spec.slotName(r.st.Slot), r.ro.ID, r.ro.Status, r.st.State)
		case tagKnown:
			o.Why = fmt.Sprintf("created by rollout %s (%s) but never recorded", tag, ro.Status)
		case tag != "":
			o.Why = fmt.Sprintf("tagged with rollout %s, which the state store does not know", tag)
		default:
			o.Why = fmt.Sprintf("tagged %s=%s but in no slot and no rollout", MetaGroup, e.spec.Group)
		}
		if len(slots) == 0 {
			// Nothing recorded at all: rebuild refuses and deletes none of them.
			o.Why += fmt.Sprintf(" (the state records no slot of group %s: `remint group adopt %s` takes its servers in)", e.spec.Group, e.spec.Group)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ServerID < out[j].ServerID
	})
	return out, nil
}

// deleteOrphans deletes the orphans at least minAge old, each reported in an event;
// younger ones are reported and left. An orphan a floating IP points at is never
// deleted (it may serve traffic): that is reported as a failure. It returns the deleted.
func (e *Executor) deleteOrphans(ctx context.Context, orphans []Orphan, minAge time.Duration) ([]Orphan, error) {
	var deleted []Orphan
	for _, o := range orphans {
		if o.Age < minAge {
			e.emit(ctx, Event{Slot: -1, Server: o.ServerID, Step: "orphan", Message: fmt.Sprintf("orphaned server %s; deleted once older than %s", o, minAge)})
			continue
		}
		addr, err := e.addressOn(ctx, o.ServerID)
		if err != nil {
			return deleted, err
		}
		if addr != "" {
			e.emit(ctx, Event{Slot: -1, Server: o.ServerID, Step: "orphan", Failed: true,
				Message: fmt.Sprintf("orphaned server %s holds floating IP %s: not deleted (move the address away, then rebuild again)", o, addr)})
			continue
		}
		if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, o.ServerID) }); err != nil {
			return deleted, fmt.Errorf("delete orphaned server %s (%s) of group %s: %w", o.ServerName, o.ServerID, e.spec.Group, err)
		}
		e.log.Info("deleted orphaned server", "group", e.spec.Group, "server", o.ServerID, "name", o.ServerName, "age", o.Age.Round(time.Second), "why", o.Why)
		e.emit(ctx, Event{Slot: -1, Server: o.ServerID, Step: "orphan", Message: "deleted orphaned server " + o.String()})
		deleted = append(deleted, o)
	}
	return deleted, nil
}

// addressOn returns a floating IP associated with one of the server's ports, "" when
// none is.
func (e *Executor) addressOn(ctx context.Context, serverID string) (string, error) {
	var ports []openstack.Port
	err := e.do(ctx, func(ctx context.Context) (err error) {
		ports, err = e.cloud.PortsOfServer(ctx, serverID)
		return err
	})
	if err != nil {
		if openstack.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("list ports of server %s: %w", serverID, err)
	}
	for _, p := range ports {
		var fips []openstack.FloatingIP
		err := e.do(ctx, func(ctx context.Context) (err error) {
			fips, err = e.cloud.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{PortID: p.ID})
			return err
		})
		if err != nil {
			return "", fmt.Errorf("list floating IPs on port %s of server %s: %w", p.ID, serverID, err)
		}
		for _, f := range fips {
			if f.PortID == p.ID {
				return f.Address, nil
			}
		}
	}
	return "", nil
}
