package failover

import (
	"fmt"
	"sort"
	"strings"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/manifest"
)

// Action is what a plan does to a slot.
type Action string

const (
	ActionCreate  Action = "create"  // the slot has no server: create one (first deploy)
	ActionReplace Action = "replace" // replace the slot's server with one from the target
	ActionSkip    Action = "skip"    // already on the target image
	ActionRemove  Action = "remove"  // the slot is at or beyond a lowered count: remove it
)

// Mode says how a replacement keeps the group's capacity.
type Mode string

const (
	// ModeSurge creates the replacement before the old server is retired (count+1 servers
	// for a while; the address moves from one healthy server to another).
	ModeSurge Mode = "surge"
	// ModeUnavailable retires the old server first (count-1 servers for a while; the
	// slot's address is unassociated until the replacement is healthy).
	ModeUnavailable Mode = "unavailable"
	// ModeNone is for creates and skips.
	ModeNone Mode = "none"
	// ModeRemove is for removals: the slot's address is taken off its server, released
	// or kept, the slot forgotten, the server deleted (after keep_old).
	ModeRemove Mode = "remove"
)

// Target is the image a rollout moves the group to.
type Target struct {
	ImageID   string `json:"image_id"`
	ImageName string `json:"image_name,omitempty"`
	Version   string `json:"version"`
}

// Current is what one slot runs now.
type Current struct {
	Slot         int    `json:"slot"`
	ServerID     string `json:"server_id"`
	ServerName   string `json:"server_name,omitempty"`
	ImageID      string `json:"image_id"`
	ImageVersion string `json:"image_version"`
	Status       string `json:"status,omitempty"` // the server's Nova status, "" when unknown
}

// PlanInput is everything MakePlan looks at.
type PlanInput struct {
	Spec   Spec
	Target Target
	// Slots are the group's current servers; slots without an entry have no server.
	// Slots at or beyond the count (a lowered count) are removed.
	Slots []Current
	Force bool
}

// PlanStep is one slot's part of a plan.
type PlanStep struct {
	Slot            int    `json:"slot"`
	Wave            int    `json:"wave"` // 1-based; 0 for skipped slots
	Action          Action `json:"action"`
	Mode            Mode   `json:"mode"`
	OldServerID     string `json:"old_server_id,omitempty"`
	OldServerName   string `json:"old_server_name,omitempty"`
	OldImageID      string `json:"old_image_id,omitempty"`
	OldImageVersion string `json:"old_image_version,omitempty"`
	// Address is the slot's failover address as the manifest names it ("" for none).
	Address string `json:"address,omitempty"`
	Note    string `json:"note"`
}

// Plan is the ordered list of steps a rollout executes.
type Plan struct {
	Group          string     `json:"group"`
	Strategy       string     `json:"strategy"`
	Count          int        `json:"count"`
	Target         Target     `json:"target"`
	MaxSurge       int        `json:"max_surge"`
	MaxUnavailable int        `json:"max_unavailable"`
	Force          bool       `json:"force"`
	Waves          int        `json:"waves"`
	Steps          []PlanStep `json:"steps"` // in execution order: wave, then slot; skips last
	Notes          []string   `json:"notes,omitempty"`
}

// Work returns the steps that do something (creates and replacements).
func (p Plan) Work() []PlanStep {
	var out []PlanStep
	for _, s := range p.Steps {
		if s.Action != ActionSkip {
			out = append(out, s)
		}
	}
	return out
}

// Wave returns the steps of wave w (1-based).
func (p Plan) Wave(w int) []PlanStep {
	var out []PlanStep
	for _, s := range p.Steps {
		if s.Wave == w {
			out = append(out, s)
		}
	}
	return out
}

// MakePlan computes which slot gets which image, in which wave, and why. It is pure: the
// same input always gives the same plan, and nothing is touched.
//
// Rolling: slots with no server are created in the first wave (they add capacity, they
// never reduce it); then replacements go in waves of max surge + max unavailable, the
// first max surge of each wave created before the old server goes. Blue/green: every
// slot that needs it is replaced in one wave, all replacements are checked before any
// address moves, and the group address moves once.
func MakePlan(in PlanInput) (Plan, error) {
	s := in.Spec
	if err := s.Validate(); err != nil {
		return Plan{}, err
	}
	if in.Target.ImageID == "" {
		return Plan{}, fmt.Errorf("plan group %s: no target image", s.Group)
	}
	target, targetErr := catalog.ParseVersion(in.Target.Version)
	cur := map[int]Current{}
	for _, c := range in.Slots {
		if c.Slot < 0 {
			return Plan{}, fmt.Errorf("plan group %s: slot %d: negative slot", s.Group, c.Slot)
		}
		if _, dup := cur[c.Slot]; dup {
			return Plan{}, fmt.Errorf("plan group %s: slot %d has two servers", s.Group, c.Slot)
		}
		cur[c.Slot] = c
	}
	p := Plan{Group: s.Group, Strategy: s.Strategy, Count: s.Count, Target: in.Target, Force: in.Force}
	if s.OnlySlot != nil {
		if *s.OnlySlot < 0 || *s.OnlySlot >= s.Count {
			return Plan{}, BadRequestError{fmt.Errorf("plan group %s: slot %d: want 0 to %d", s.Group, *s.OnlySlot, s.Count-1)}
		}
		p.Notes = append(p.Notes, fmt.Sprintf("only slot %s is in this rollout: the other slots are kept, nothing is removed", s.slotName(*s.OnlySlot)))
	}

	var creates, replaces, skips, removes []PlanStep
	for _, c := range in.Slots {
		if c.Slot < s.Count || c.ServerID == "" || s.OnlySlot != nil {
			continue
		}
		st := PlanStep{Slot: c.Slot, Action: ActionRemove, Mode: ModeRemove, OldServerID: c.ServerID, OldServerName: c.ServerName,
			OldImageID: c.ImageID, OldImageVersion: c.ImageVersion}
		st.Note = fmt.Sprintf("slot %s: remove server %s (image %s): count lowered to %d", s.slotName(c.Slot), shortID(c.ServerID), orUnknown(c.ImageVersion), s.Count)
		removes = append(removes, st)
	}
	sort.Slice(removes, func(i, j int) bool { return removes[i].Slot < removes[j].Slot })
	for slot := range s.Count {
		st := PlanStep{Slot: slot, Mode: ModeNone, Address: addressLabel(s, slot)}
		c, ok := cur[slot]
		name := s.slotName(slot)
		switch {
		case s.OnlySlot != nil && slot != *s.OnlySlot:
			st.Action = ActionSkip
			st.OldServerID, st.OldServerName, st.OldImageID, st.OldImageVersion = c.ServerID, c.ServerName, c.ImageID, c.ImageVersion
			st.Note = fmt.Sprintf("slot %s: keep server %s: this rollout changes only slot %s", name, orUnknown(shortID(c.ServerID)), s.slotName(*s.OnlySlot))
			skips = append(skips, st)
			continue
		case !ok || c.ServerID == "":
			st.Action = ActionCreate
			st.Note = fmt.Sprintf("slot %s: create a server from %s: slot has no server (first deploy)", name, in.Target.Version)
			creates = append(creates, st)
			continue
		}
		st.OldServerID, st.OldServerName, st.OldImageID, st.OldImageVersion = c.ServerID, c.ServerName, c.ImageID, c.ImageVersion
		why := replaceReason(c, in.Target, target, targetErr)
		if why == "" && !in.Force {
			st.Action = ActionSkip
			st.Note = fmt.Sprintf("slot %s: keep server %s (image %s): already on the target image", name, shortID(c.ServerID), orUnknown(c.ImageVersion))
			skips = append(skips, st)
			continue
		}
		if why == "" {
			why = "forced: already on the target image"
		}
		st.Action = ActionReplace
		st.Note = fmt.Sprintf("slot %s: replace server %s (image %s) with one from %s: %s", name, shortID(c.ServerID), orUnknown(c.ImageVersion), in.Target.Version, why)
		replaces = append(replaces, st)
	}
	// Broken servers first: replacing them restores capacity instead of risking it.
	sort.SliceStable(replaces, func(i, j int) bool {
		return brokenRank(cur[replaces[i].Slot]) < brokenRank(cur[replaces[j].Slot])
	})

	for i := range creates {
		creates[i].Wave = 1
	}
	switch s.Strategy {
	case StrategyBlueGreen:
		p.MaxSurge, p.MaxUnavailable = len(replaces), 0
		for i := range replaces {
			replaces[i].Wave, replaces[i].Mode = 1, ModeSurge
		}
		if len(creates)+len(replaces) > 0 {
			p.Waves = 1
		}
		if p.Waves > 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("bluegreen: %d new servers are created and health-checked together; addresses move only after all are healthy (max surge is %d for this rollout)", len(creates)+len(replaces), len(replaces)))
		}
	default:
		surge, unavail := capBudget(len(replaces), s.MaxSurge, s.MaxUnavailable)
		p.MaxSurge, p.MaxUnavailable = s.MaxSurge, s.MaxUnavailable
		size := waveSize(surge, unavail)
		for i := range replaces {
			replaces[i].Wave = 1 + i/max(size, 1)
			if i%size < surge {
				replaces[i].Mode = ModeSurge
			} else {
				replaces[i].Mode = ModeUnavailable
			}
		}
		p.Waves = waveCount(len(replaces), surge, unavail)
		if p.Waves == 0 && len(creates) > 0 {
			p.Waves = 1
		}
		if len(replaces) > 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("rolling: %d replacements in %d waves of up to %d (surge %d, unavailable %d)", len(replaces), waveCount(len(replaces), surge, unavail), size, surge, unavail))
		}
		if unavail > 0 && hasAddressed(replaces, ModeUnavailable) {
			p.Notes = append(p.Notes, "max unavailable > 0: a slot replaced without surge has its address unassociated until its replacement is healthy")
		}
	}
	if len(removes) > 0 {
		p.Waves = max(p.Waves, 1)
		for i := range removes {
			removes[i].Wave = p.Waves
		}
		addr := "addresses remint allocated for them stay recorded for a later raise (release_addresses: false)"
		if s.ReleaseAddresses {
			addr = "addresses remint allocated for them are released (release_addresses: true)"
		}
		old := "their servers are deleted once their addresses are off"
		if s.KeepOld > 0 {
			old = fmt.Sprintf("their servers are kept %s (keep_old) and then deleted", s.KeepOld)
		}
		p.Notes = append(p.Notes, fmt.Sprintf("shrink: count lowered to %d: %d slots removed after every replacement succeeded; %s; %s", s.Count, len(removes), addr, old))
	}
	if s.Health.Check.Kind() == "cloud" && len(creates)+len(replaces) > 0 {
		note := fmt.Sprintf("health cloud: a new server counts as healthy when Nova says ACTIVE, its Neutron ports are ACTIVE and its console log (where readable) shows the boot finished, %d polls in a row; this proves less than a probe: nothing on the server is asked whether it works", max(s.Health.HealthyThreshold, 1))
		if s.HealthGate && len(s.Addresses) > 0 {
			note += "; after each move the gate checks only that Neutron has the floating IP on the new server's ACTIVE port, no traffic is sent through it"
		}
		p.Notes = append(p.Notes, note)
	}
	if s.Alarm != nil && len(creates)+len(replaces) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("alarm gate: before each wave, after each move and during the bake, %s; otherwise the slot (with a bake, its wave) rolls back", s.Alarm))
	}
	if s.Bake > 0 && len(replaces) > 0 {
		what := "the wave is rolled back (rollback_on_failure: wave)"
		if s.RollbackAll {
			what = "every wave so far is rolled back (rollback_on_failure: all; old servers are kept until the last bake passed)"
		}
		p.Notes = append(p.Notes, fmt.Sprintf("bake %s: after each wave's addresses moved, its new servers are watched behind their addresses before the next wave starts and before old servers are retired; on a failure %s", s.Bake, what))
	}
	if len(creates) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("first deploy: %d slots have no server and are created in wave 1", len(creates)))
	}
	if len(creates)+len(replaces)+len(removes) == 0 {
		p.Notes = append(p.Notes, "nothing to do: every slot is on the target image (use --force to replace anyway)")
	}
	if targetErr != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("target version %q is not YYYY.MM.N: servers are compared by image id only", in.Target.Version))
	}
	sort.SliceStable(replaces, func(i, j int) bool { return replaces[i].Wave < replaces[j].Wave })
	p.Steps = append(append(append(append(p.Steps, creates...), replaces...), removes...), skips...)
	return p, nil
}

// replaceReason says why the slot's server must be replaced, or "" when it runs the
// target image and is not broken.
func replaceReason(c Current, t Target, target catalog.Version, targetErr error) string {
	switch c.Status {
	case "ERROR", "SHUTOFF", "DELETED", "SOFT_DELETED":
		return fmt.Sprintf("server is %s", c.Status)
	}
	if c.ImageID == t.ImageID {
		return ""
	}
	v, err := catalog.ParseVersion(c.ImageVersion)
	if err != nil || targetErr != nil {
		return fmt.Sprintf("image %s is not the target image %s", orUnknown(c.ImageVersion), shortID(t.ImageID))
	}
	switch v.Compare(target) {
	case -1:
		return "image is older than the target"
	case 1:
		return "image is newer than the target (going back to an older version)"
	default:
		return "same version, different image (rebuilt or re-registered)"
	}
}

func brokenRank(c Current) int {
	switch c.Status {
	case "ERROR", "SHUTOFF", "DELETED", "SOFT_DELETED":
		return 0
	}
	return 1
}

func hasAddressed(steps []PlanStep, m Mode) bool {
	for _, s := range steps {
		if s.Mode == m && s.Address != "" {
			return true
		}
	}
	return false
}

func addressLabel(s Spec, slot int) string {
	a, ok := s.addressOf(slot)
	if !ok {
		return ""
	}
	return describeAddress(a)
}

func describeAddress(a manifest.Address) string {
	switch {
	case a.Address != "":
		return a.Address
	case a.ID != "":
		return "id " + a.ID
	case a.AllocateFrom != "":
		return "new from " + a.AllocateFrom
	}
	return ""
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// String renders the plan for humans (remint plan, --dry-run, golden files).
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s: %s to %s (image %s), count %d, max surge %d, max unavailable %d, %d waves\n",
		p.Group, p.Strategy, p.Target.Version, shortID(p.Target.ImageID), p.Count, p.MaxSurge, p.MaxUnavailable, p.Waves)
	for w := 1; w <= p.Waves; w++ {
		fmt.Fprintf(&b, "wave %d:\n", w)
		for _, s := range p.Wave(w) {
			fmt.Fprintf(&b, "  %s [%s", s.Note, s.Action)
			if s.Mode != ModeNone && s.Mode != ModeRemove {
				fmt.Fprintf(&b, ", %s", s.Mode)
			}
			if s.Address != "" {
				fmt.Fprintf(&b, ", address %s", s.Address)
			}
			b.WriteString("]\n")
		}
	}
	if skips := p.Wave(0); len(skips) > 0 {
		b.WriteString("skipped:\n")
		for _, s := range skips {
			fmt.Fprintf(&b, "  %s\n", s.Note)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}
