package orchestrator_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

type targets struct{}

func (targets) FamilyNames() []string         { return []string{"debian-12"} }
func (targets) GroupNames() []string          { return []string{"db", "web"} }
func (targets) Replaceable(group string) bool { return group == "web" }

// Run-time schedules are validated before they are stored, named errors are 400s, and
// the daemon gets the enabled ones in its form.
func TestScheduleBook(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	b := &orchestrator.ScheduleBook{Store: st, Static: []string{"weekend-web"}, Targets: targets{},
		Now: func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) }}
	good := orchestrator.ScheduleSpec{Name: "sat-db", RRule: "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA",
		Window: 4 * time.Hour, Enabled: true, Action: manifest.ActionUpdate, Target: "db",
		Options: manifest.ScheduleOptions{ApplySecurityUpgrades: true, RebootIfRequired: true}}
	d, err := b.Create(ctx, good, "cli")
	require.NoError(t, err)
	require.Equal(t, "cli", d.CreatedBy)

	for name, mut := range map[string]func(*orchestrator.ScheduleSpec){
		"name":        func(s *orchestrator.ScheduleSpec) { s.Name = "Bad Name" },
		"static name": func(s *orchestrator.ScheduleSpec) { s.Name = "weekend-web" },
		"duplicate":   func(s *orchestrator.ScheduleSpec) {},
		"rrule":       func(s *orchestrator.ScheduleSpec) { s.Name, s.RRule = "x", "FREQ=SOMETIMES" },
		"window":      func(s *orchestrator.ScheduleSpec) { s.Name, s.Window = "x", 25*time.Hour },
		"action":      func(s *orchestrator.ScheduleSpec) { s.Name, s.Action = "x", "reboot" },
		"target":      func(s *orchestrator.ScheduleSpec) { s.Name, s.Target = "x", "nope" },
		"family target": func(s *orchestrator.ScheduleSpec) {
			s.Name, s.Action, s.Options, s.Target = "x", "build-image", manifest.ScheduleOptions{}, "web"
		},
		"not replaceable": func(s *orchestrator.ScheduleSpec) {
			s.Name, s.Action, s.Options = "x", "rebuild", manifest.ScheduleOptions{}
		},
		"options": func(s *orchestrator.ScheduleSpec) { s.Name, s.Action, s.Target = "x", "rebuild", "web" },
	} {
		spec := good
		mut(&spec)
		_, err := b.Create(ctx, spec, "cli")
		var bad orchestrator.BadRequestError
		require.True(t, errors.As(err, &bad), "%s: %v", name, err)
	}

	named, err := b.Named(ctx)
	require.NoError(t, err)
	require.Len(t, named, 1)
	require.Equal(t, orchestrator.KindUpdate, named[0].Kind)
	require.Contains(t, string(named[0].Options), `"reboot_if_required":true`)

	_, err = b.SetEnabled(ctx, d.ID, false)
	require.NoError(t, err)
	named, err = b.Named(ctx)
	require.NoError(t, err)
	require.Empty(t, named)
	list, err := b.List(ctx, "db")
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(list, func(s store.ScheduleDef) bool { return s.Name == "sat-db" && !s.Enabled }))

	spec, err := orchestrator.SpecOf(list[0])
	require.NoError(t, err)
	require.True(t, spec.Options.RebootIfRequired)
	spec.Window = 6 * time.Hour
	upd, err := b.Update(ctx, d.ID, spec)
	require.NoError(t, err)
	require.Equal(t, 6*time.Hour, upd.Window)
	require.NoError(t, b.Delete(ctx, d.ID))
	require.True(t, errors.Is(b.Delete(ctx, d.ID), store.ErrScheduleNotFound))
}

// A schedule may target one slot of a group (group/<slot>) when the book knows the
// groups' slots: a slot beyond the count, a malformed one, or no slot knowledge at all
// are 400s.
func TestScheduleBookSlotTarget(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	slots := func(group string) int { return map[string]int{"web": 2, "db": 1}[group] }
	b := &orchestrator.ScheduleBook{Store: st, Targets: targets{}, Slots: slots}
	spec := orchestrator.ScheduleSpec{Name: "web-1-sat", RRule: "DTSTART:20260103T020000Z RRULE:FREQ=WEEKLY;BYDAY=SA",
		Window: 2 * time.Hour, Enabled: true, Action: manifest.ActionUpdate, Target: orchestrator.SlotTarget("web", 1)}
	d, err := b.Create(ctx, spec, "api")
	require.NoError(t, err)
	list, err := b.List(ctx, "web/1")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, d.ID, list[0].ID)

	for target, want := range map[string]string{
		"db/1":   `target "db/1": want db/<slot> with a slot from 0 to 0`,
		"web/x":  `target "web/x": want web/<slot> with a slot from 0 to 1`,
		"web/01": `target "web/01": want web/<slot>`,
		"nope/0": "targets a group (or group/<slot> of one)",
	} {
		s := spec
		s.Name, s.Target = "other", target
		_, err := b.Create(ctx, s, "api")
		var bad orchestrator.BadRequestError
		require.ErrorAs(t, err, &bad, target)
		require.Contains(t, err.Error(), want)
	}
	b.Slots = nil
	spec.Name = "other"
	_, err = b.Create(ctx, spec, "api")
	require.ErrorContains(t, err, "schedules on one slot are not available here")
}
