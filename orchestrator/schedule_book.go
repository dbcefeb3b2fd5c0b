package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
)

// Schedules come from two places: the manifest's schedules: section (read-only at run
// time; change the file) and schedules created at run time by `remint schedule create`,
// the API and the console, kept in the state store. ScheduleBook is the one place that
// validates and changes the second kind; both kinds reach the daemon as NamedSchedules.

// ScheduleSpec is what a user gives to create or change a schedule.
type ScheduleSpec struct {
	Name        string                   `json:"name"`
	RRule       string                   `json:"rrule"`
	Window      time.Duration            `json:"-"`
	Enabled     bool                     `json:"enabled"`
	Action      string                   `json:"action"`
	Target      string                   `json:"target"`
	Options     manifest.ScheduleOptions `json:"-"`
	Description string                   `json:"description,omitempty"`
	// UnchangedSince, when set, is the version (updated time) the change was made
	// against: Update refuses with store.ErrScheduleChanged if the schedule changed since.
	UnchangedSince time.Time `json:"-"`
}

// Targets says which families and groups exist (for build-image and the group actions)
// and which groups are replaceable.
type Targets interface {
	FamilyNames() []string
	GroupNames() []string
	Replaceable(group string) bool
}

// ScheduleBook validates and keeps run-time schedules.
type ScheduleBook struct {
	Store *store.Store
	// Static are the manifest's schedule names: reserved, and not changeable here.
	Static  []string
	Targets Targets
	// Slots, when set, lets group actions target one slot of a group ("group/<slot>",
	// see SlotTarget; the STACKIT-compatible API's schedules of one server): it says how
	// many slots a group has.
	Slots func(group string) int
	Now   func() time.Time
	// Changed, if set, is called after each change that happened (create, update,
	// enable/disable, delete): the daemon's SchedulesChanged, so it reloads at once
	// whoever made the change (CLI API, console, STACKIT-compatible API).
	Changed func()
}

// changed calls Changed when err is nil.
func (b *ScheduleBook) changed(err error) {
	if err == nil && b.Changed != nil {
		b.Changed()
	}
}

var scheduleName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (b *ScheduleBook) now() time.Time {
	if b.Now == nil {
		return time.Now()
	}
	return b.Now()
}

// check validates spec; problems are BadRequestErrors naming the field.
func (b *ScheduleBook) check(ctx context.Context, spec ScheduleSpec) error {
	if !scheduleName.MatchString(spec.Name) {
		return badRequest("name %q: want 1 to 63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", spec.Name)
	}
	if slices.Contains(b.Static, spec.Name) {
		return badRequest("name %q: the manifest defines a schedule of that name (change it in the manifest)", spec.Name)
	}
	if _, err := ParseSchedule(spec.RRule, spec.Window); err != nil {
		return badRequest("%v", err)
	}
	actions := []string{manifest.ActionBuildImage, manifest.ActionRebuild, manifest.ActionInPlace, manifest.ActionUpdate}
	if !slices.Contains(actions, spec.Action) {
		return badRequest("action %q: want one of %s", spec.Action, strings.Join(actions, ", "))
	}
	o := spec.Options
	if (o.ApplySecurityUpgrades || o.RebootIfRequired || o.ApplyDockerUpgrades || o.ApplyWeaveUpgrades) &&
		(spec.Action == manifest.ActionBuildImage || spec.Action == manifest.ActionRebuild) {
		return badRequest("options apply only to actions inplace and update, not %s", spec.Action)
	}
	if b.Targets == nil {
		return nil
	}
	if spec.Action == manifest.ActionBuildImage {
		if !slices.Contains(b.Targets.FamilyNames(), spec.Target) {
			return badRequest("target %q: action build-image targets a family; families: %s", spec.Target, strings.Join(b.Targets.FamilyNames(), ", "))
		}
		return nil
	}
	group, slot := SplitTarget(spec.Target)
	if !slices.Contains(b.Targets.GroupNames(), group) {
		return badRequest("target %q: action %s targets a group (or group/<slot> of one); groups: %s", spec.Target, spec.Action, strings.Join(b.Targets.GroupNames(), ", "))
	}
	if group != spec.Target {
		switch {
		case b.Slots == nil:
			return badRequest("target %q: schedules on one slot are not available here; target the group %s", spec.Target, group)
		case slot < 0 || slot >= b.Slots(group):
			return badRequest("target %q: want %s/<slot> with a slot from 0 to %d", spec.Target, group, b.Slots(group)-1)
		}
	}
	if spec.Action == manifest.ActionRebuild && !b.Targets.Replaceable(group) {
		return badRequest("target %q is not replaceable (replaceable: false): action rebuild cannot apply; use inplace or update", spec.Target)
	}
	return nil
}

func (b *ScheduleBook) def(spec ScheduleSpec) (store.ScheduleDef, error) {
	opts, err := json.Marshal(OptionsOf(spec.Options))
	if err != nil {
		return store.ScheduleDef{}, err
	}
	return store.ScheduleDef{Name: spec.Name, RRule: spec.RRule, Window: spec.Window, Enabled: spec.Enabled, Action: spec.Action,
		Target: spec.Target, Options: opts, Description: spec.Description}, nil
}

// Create validates spec and stores it; by names who asked ("cli", "token ci").
func (b *ScheduleBook) Create(ctx context.Context, spec ScheduleSpec, by string) (store.ScheduleDef, error) {
	if err := b.check(ctx, spec); err != nil {
		return store.ScheduleDef{}, err
	}
	d, err := b.def(spec)
	if err != nil {
		return d, err
	}
	d.CreatedBy = by
	d, err = b.Store.CreateSchedule(ctx, d, b.now())
	if errors.Is(err, store.ErrScheduleExists) {
		return d, BadRequestError{fmt.Errorf("name %q: %w", spec.Name, store.ErrScheduleExists)}
	}
	b.changed(err)
	return d, err
}

// Update replaces schedule id with spec.
func (b *ScheduleBook) Update(ctx context.Context, id int64, spec ScheduleSpec) (store.ScheduleDef, error) {
	if err := b.check(ctx, spec); err != nil {
		return store.ScheduleDef{}, err
	}
	d, err := b.def(spec)
	if err != nil {
		return d, err
	}
	d.ID, d.Updated = id, spec.UnchangedSince
	d, err = b.Store.UpdateSchedule(ctx, d, b.now())
	if errors.Is(err, store.ErrScheduleExists) {
		return d, BadRequestError{fmt.Errorf("name %q: %w", spec.Name, store.ErrScheduleExists)}
	}
	b.changed(err)
	return d, err
}

// SetEnabled enables or disables schedule id.
func (b *ScheduleBook) SetEnabled(ctx context.Context, id int64, enabled bool) (store.ScheduleDef, error) {
	// Read, flip, write only if unchanged since the read; a concurrent change makes it
	// read again, so a change made meanwhile is kept, not overwritten.
	var d store.ScheduleDef
	var err error
	for range 5 {
		if d, err = b.Store.Schedule(ctx, id); err != nil {
			return d, err
		}
		d.Enabled = enabled
		if d, err = b.Store.UpdateSchedule(ctx, d, b.now()); !errors.Is(err, store.ErrScheduleChanged) {
			break
		}
	}
	b.changed(err)
	return d, err
}

// Get returns schedule id; List the schedules on target ("" for all).
func (b *ScheduleBook) Get(ctx context.Context, id int64) (store.ScheduleDef, error) {
	return b.Store.Schedule(ctx, id)
}

// List returns the run-time schedules on target ("" for all).
func (b *ScheduleBook) List(ctx context.Context, target string) ([]store.ScheduleDef, error) {
	return b.Store.ListSchedules(ctx, target)
}

// Delete deletes schedule id; its recorded runs stay in the history.
func (b *ScheduleBook) Delete(ctx context.Context, id int64) error {
	err := b.Store.DeleteSchedule(ctx, id)
	b.changed(err)
	return err
}

// SpecOf is the spec a stored schedule was made from.
func SpecOf(d store.ScheduleDef) (ScheduleSpec, error) {
	spec := ScheduleSpec{Name: d.Name, RRule: d.RRule, Window: d.Window, Enabled: d.Enabled, Action: d.Action, Target: d.Target,
		Description: d.Description}
	if len(d.Options) > 0 {
		var o Options
		if err := json.Unmarshal(d.Options, &o); err != nil {
			return spec, fmt.Errorf("schedule %s: options: %w", d.Name, err)
		}
		spec.Options = manifest.ScheduleOptions{ApplySecurityUpgrades: o.ApplySecurityUpgrades, RebootIfRequired: o.RebootIfRequired,
			ApplyDockerUpgrades: o.ApplyDockerUpgrades, ApplyWeaveUpgrades: o.ApplyWeaveUpgrades}
	}
	return spec, nil
}

// NewNamedSchedule makes the daemon's form of a schedule: the rule parsed with its
// window, and the job kind and options its action maps to.
func NewNamedSchedule(name, rule string, window time.Duration, action, target string, opts manifest.ScheduleOptions) (NamedSchedule, error) {
	sched, err := ParseSchedule(rule, window)
	if err != nil {
		return NamedSchedule{}, fmt.Errorf("schedule %s: %w", name, err)
	}
	ns := NamedSchedule{Name: name, Schedule: sched, Action: action, Target: target, Options: []byte("{}")}
	switch action {
	case manifest.ActionRebuild:
		ns.Kind = KindRebuild
	case manifest.ActionBuildImage:
		ns.Kind = KindBuildImage
	case manifest.ActionInPlace, manifest.ActionUpdate:
		ns.Kind = KindInPlace
		if action == manifest.ActionUpdate {
			ns.Kind = KindUpdate
		}
		// A schedule whose action is inplace asks for in place on purpose (as deploy
		// --in-place does); one whose action is update lets the policy choose.
		b, err := json.Marshal(InPlaceOptions{Options: OptionsOf(opts), Force: action == manifest.ActionInPlace})
		if err != nil {
			return NamedSchedule{}, err
		}
		ns.Options = b
	}
	return ns, nil
}

// Named returns the enabled run-time schedules in the daemon's form.
func (b *ScheduleBook) Named(ctx context.Context) ([]NamedSchedule, error) {
	defs, err := b.Store.ListSchedules(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []NamedSchedule
	for _, d := range defs {
		if !d.Enabled {
			continue
		}
		spec, err := SpecOf(d)
		if err != nil {
			return nil, err
		}
		ns, err := NewNamedSchedule(d.Name, d.RRule, d.Window, d.Action, d.Target, spec.Options)
		if err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, nil
}
