package failover

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// Adopted is one slot Adopt recorded.
type Adopted struct {
	Slot         int    `json:"slot"`
	ServerID     string `json:"server_id"`
	ServerName   string `json:"server_name"`
	ImageID      string `json:"image_id"`
	ImageVersion string `json:"image_version,omitempty"`
	Note         string `json:"note,omitempty"`
}

// Adopt takes the group's existing servers into its slots: servers named
// <group>-<slot>[-…] or tagged remint_group=<group> and remint_slot=<slot>. A slot the
// store already records keeps its server when that server still exists; otherwise the
// newest candidate wins and the others are reported, not touched. Servers of an
// unfinished rollout are left to that rollout. versionOf names the image version of an
// image id when the server carries no remint_image_version tag (nil: unknown).
func (e *Executor) Adopt(ctx context.Context, versionOf func(ctx context.Context, imageID string) string) ([]Adopted, []string, error) {
	var servers []openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		servers, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: e.spec.Group + "-"})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list servers of group %s: %w", e.spec.Group, err)
	}
	unfinished, err := e.Unfinished(ctx)
	if err != nil {
		return nil, nil, err
	}
	recorded, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return nil, nil, err
	}
	current := map[int]string{}
	for _, sl := range recorded {
		current[sl.Slot] = sl.ServerID
	}
	cands := map[int][]openstack.Server{}
	var notes []string
	for _, s := range servers {
		slot, ok := e.slotOf(s)
		if !ok {
			continue
		}
		if s.Metadata[MetaRollout] != "" && s.Metadata[MetaRollout] == unfinished {
			notes = append(notes, fmt.Sprintf("server %s belongs to unfinished rollout %s: left to it", s.Name, unfinished))
			continue
		}
		if s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		cands[slot] = append(cands[slot], s)
	}
	var out []Adopted
	for slot := range e.spec.Count {
		list := cands[slot]
		if len(list) == 0 {
			notes = append(notes, fmt.Sprintf("slot %s: no server (the next rebuild creates one)", e.spec.slotName(slot)))
			continue
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
		pick := list[0]
		for _, s := range list {
			if s.ID == current[slot] {
				pick = s
			}
		}
		for _, s := range list {
			if s.ID != pick.ID {
				notes = append(notes, fmt.Sprintf("slot %s: server %s (%s) also claims this slot; not adopted, not touched", e.spec.slotName(slot), s.Name, s.ID))
			}
		}
		ver := pick.Metadata[MetaImageVersion]
		if ver == "" && versionOf != nil {
			ver = versionOf(ctx, pick.ImageID)
		}
		if err := e.store.PutSlot(ctx, store.Slot{Group: e.spec.Group, Slot: slot, ServerID: pick.ID, ServerName: pick.Name,
			ImageID: pick.ImageID, ImageVersion: ver, Updated: e.now()}); err != nil {
			return out, notes, err
		}
		out = append(out, Adopted{Slot: slot, ServerID: pick.ID, ServerName: pick.Name, ImageID: pick.ImageID, ImageVersion: ver})
	}
	return out, notes, nil
}

// SlotOf reads which slot of the group a server claims (by tag or name), if any.
func (e *Executor) SlotOf(s openstack.Server) (int, bool) { return e.slotOf(s) }

// slotOf reads a server's slot from its remint_slot tag or its name <group>-<slot>[-…].
func (e *Executor) slotOf(s openstack.Server) (int, bool) {
	if g := s.Metadata[MetaGroup]; g != "" && g != e.spec.Group {
		return 0, false
	}
	if v, ok := s.Metadata[MetaSlot]; ok {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= 0 && n < e.spec.Count
	}
	rest, ok := strings.CutPrefix(s.Name, e.spec.Group+"-")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, "-")
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0 && n < e.spec.Count
}
