package failover

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func testSpec(count int, strategy string, surge, unavail int, addrs int) Spec {
	s := Spec{
		Group: "web", Count: count, Strategy: strategy, AddressMode: AddressPerServer,
		MaxSurge: surge, MaxUnavailable: unavail, HealthGate: true,
		Health: Health{HealthyThreshold: 2},
	}
	if strategy == StrategyBlueGreen && addrs == 1 {
		s.AddressMode = AddressGroup
	}
	for i := range addrs {
		s.Addresses = append(s.Addresses, manifest.Address{Address: fmt.Sprintf("203.0.113.%d", 10+i)})
	}
	return s
}

var target = Target{ImageID: "img-2026-11-1-aaaa", ImageName: "debian-12-2026.11.1", Version: "2026.11.1"}

// slotsOn returns n slots; slot i runs version(i).
func slotsOn(n int, version func(i int) (id, ver string)) []Current {
	var out []Current
	for i := range n {
		id, ver := version(i)
		out = append(out, Current{Slot: i, ServerID: fmt.Sprintf("srv%02d-0000-1111", i), ServerName: fmt.Sprintf("web-%d-old", i), ImageID: id, ImageVersion: ver, Status: "ACTIVE"})
	}
	return out
}

func allOld(int) (string, string) { return "img-2026-10-1", "2026.10.1" }

func TestPlanGolden(t *testing.T) {
	t.Parallel()
	mixed := func(i int) (string, string) {
		switch i % 3 {
		case 0:
			return target.ImageID, target.Version
		case 1:
			return "img-2026-10-1", "2026.10.1"
		}
		return "img-2026-12-1", "2026.12.1"
	}
	tests := []struct {
		name  string
		spec  Spec
		slots []Current
		force bool
	}{
		{"rolling-count1", testSpec(1, StrategyRolling, 1, 0, 1), slotsOn(1, allOld), false},
		{"rolling-count3", testSpec(3, StrategyRolling, 1, 0, 3), slotsOn(3, allOld), false},
		{"rolling-count10", testSpec(10, StrategyRolling, 1, 0, 10), slotsOn(10, allOld), false},
		{"rolling-count10-surge3", testSpec(10, StrategyRolling, 3, 0, 10), slotsOn(10, allOld), false},
		{"rolling-count10-surge2-unavail1", testSpec(10, StrategyRolling, 2, 1, 10), slotsOn(10, allOld), false},
		{"rolling-count3-surge0-unavail1", testSpec(3, StrategyRolling, 0, 1, 3), slotsOn(3, allOld), false},
		{"rolling-count3-surge5", testSpec(3, StrategyRolling, 5, 0, 3), slotsOn(3, allOld), false},
		{"rolling-count10-mixed", testSpec(10, StrategyRolling, 2, 0, 10), slotsOn(10, mixed), false},
		{"rolling-count3-current-force", testSpec(3, StrategyRolling, 1, 0, 3), slotsOn(3, func(int) (string, string) { return target.ImageID, target.Version }), true},
		{"rolling-count3-current", testSpec(3, StrategyRolling, 1, 0, 3), slotsOn(3, func(int) (string, string) { return target.ImageID, target.Version }), false},
		{"rolling-count3-first-deploy", testSpec(3, StrategyRolling, 1, 0, 3), nil, false},
		{"rolling-count3-partial", testSpec(3, StrategyRolling, 1, 0, 3), slotsOn(1, allOld), false},
		{"rolling-count3-error-first", testSpec(3, StrategyRolling, 1, 0, 0), func() []Current {
			s := slotsOn(3, allOld)
			s[2].Status = "ERROR"
			return s
		}(), false},
		{"rolling-count3-bake", func() Spec { s := testSpec(3, StrategyRolling, 1, 0, 3); s.Bake = 30 * time.Second; return s }(), slotsOn(3, allOld), false},
		{"rolling-count10-surge3-bake-all", func() Spec {
			s := testSpec(10, StrategyRolling, 3, 0, 10)
			s.Bake, s.RollbackAll = 2*time.Minute, true
			return s
		}(), slotsOn(10, allOld), false},
		{"rolling-count5-shrink-to3", testSpec(3, StrategyRolling, 1, 0, 3), slotsOn(5, allOld), false},
		{"rolling-count5-shrink-to2-current-release-keep-old", func() Spec {
			s := testSpec(2, StrategyRolling, 1, 0, 2)
			s.ReleaseAddresses, s.KeepOld = true, time.Hour
			return s
		}(), slotsOn(5, func(int) (string, string) { return target.ImageID, target.Version }), false},
		{"rolling-count4-surge2-bake-gate", func() Spec {
			s := testSpec(4, StrategyRolling, 2, 0, 4)
			s.Bake = time.Minute
			s.Alarm = &Alarm{URL: "http://prometheus:9090", Query: `sum(rate(haproxy_backend_http_responses_total{backend="web",code="5xx"}[1m]))`, Max: 0.5}
			return s
		}(), slotsOn(4, allOld), false},
		{"rolling-count3-health-cloud", func() Spec {
			s := testSpec(3, StrategyRolling, 1, 0, 3)
			s.Health.Check = manifest.HealthCheck{Cloud: &manifest.CloudCheck{}}
			return s
		}(), slotsOn(3, allOld), false},
		{"rolling-count2-health-cloud-no-addresses", func() Spec {
			s := testSpec(2, StrategyRolling, 1, 0, 0)
			s.Health.Check = manifest.HealthCheck{Cloud: &manifest.CloudCheck{}}
			return s
		}(), slotsOn(2, allOld), false},
		{"bluegreen-count1", testSpec(1, StrategyBlueGreen, 1, 0, 1), slotsOn(1, allOld), false},
		{"bluegreen-count3", testSpec(3, StrategyBlueGreen, 1, 0, 1), slotsOn(3, allOld), false},
		{"bluegreen-count10", testSpec(10, StrategyBlueGreen, 1, 0, 1), slotsOn(10, allOld), false},
		{"bluegreen-count3-per-server", testSpec(3, StrategyBlueGreen, 1, 0, 3), slotsOn(3, allOld), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := MakePlan(PlanInput{Spec: tt.spec, Target: target, Slots: tt.slots, Force: tt.force})
			require.NoError(t, err)
			got := p.String()
			path := filepath.Join("testdata", "plan-"+tt.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./failover -run TestPlanGolden -update")
			require.Equal(t, string(want), got)

			// The same slots listed in any order give the same plan.
			shuffled := append([]Current(nil), tt.slots...)
			rand.New(rand.NewPCG(uint64(len(tt.name)), 7)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			p2, err := MakePlan(PlanInput{Spec: tt.spec, Target: target, Slots: shuffled, Force: tt.force})
			require.NoError(t, err)
			require.Equal(t, got, p2.String(), "input order must not matter")
		})
	}
}

// TestPlanInvariants checks, over many shapes, what every plan must satisfy whatever
// its input order: each slot appears once; no wave creates more replacements than
// surge or retires more servers first than unavailable; skips only on the target.
func TestPlanInvariants(t *testing.T) {
	t.Parallel()
	for seed := range 100 {
		count := 1 + seed%13
		surge, unavail := seed%4, (seed/4)%3
		if surge == 0 && unavail == 0 {
			surge = 1
		}
		strategy := StrategyRolling
		if seed%5 == 0 {
			strategy = StrategyBlueGreen
		}
		slots := slotsOn(count, func(i int) (string, string) {
			if (i*7+seed)%4 == 0 {
				return target.ImageID, target.Version
			}
			return "img-old", "2026.09.2"
		})
		// drop some slots (first deploy) and shuffle the input order
		var in []Current
		for i, c := range slots {
			if (i+seed)%6 != 5 {
				in = append(in, c)
			}
		}
		for i := range in {
			j := (i*31 + seed) % len(in)
			in[i], in[j] = in[j], in[i]
		}
		p, err := MakePlan(PlanInput{Spec: testSpec(count, strategy, surge, unavail, count), Target: target, Slots: in})
		require.NoError(t, err, "seed %d", seed)
		p2, err := MakePlan(PlanInput{Spec: testSpec(count, strategy, surge, unavail, count), Target: target, Slots: slots[:0:0]})
		require.NoError(t, err)
		require.Len(t, p2.Steps, count)

		seen := map[int]bool{}
		perWave := map[int]map[Mode]int{}
		for _, s := range p.Steps {
			require.False(t, seen[s.Slot], "seed %d: slot %d twice", seed, s.Slot)
			seen[s.Slot] = true
			if s.Action == ActionSkip {
				require.Equal(t, 0, s.Wave)
				require.Equal(t, target.ImageID, s.OldImageID)
				continue
			}
			require.GreaterOrEqual(t, s.Wave, 1)
			require.LessOrEqual(t, s.Wave, p.Waves)
			if perWave[s.Wave] == nil {
				perWave[s.Wave] = map[Mode]int{}
			}
			perWave[s.Wave][s.Mode]++
		}
		require.Len(t, seen, count, "seed %d", seed)
		for w, m := range perWave {
			if strategy == StrategyRolling {
				require.LessOrEqual(t, m[ModeSurge], surge, "seed %d wave %d", seed, w)
				require.LessOrEqual(t, m[ModeUnavailable], unavail, "seed %d wave %d", seed, w)
			} else {
				require.Zero(t, m[ModeUnavailable], "seed %d: bluegreen never reduces capacity", seed)
			}
		}
	}
}

func TestPlanRejectsBadInput(t *testing.T) {
	t.Parallel()
	_, err := MakePlan(PlanInput{Spec: testSpec(3, StrategyRolling, 0, 0, 3), Target: target})
	require.ErrorContains(t, err, "both 0")
	_, err = MakePlan(PlanInput{Spec: testSpec(3, StrategyRolling, 1, 0, 3)})
	require.ErrorContains(t, err, "no target image")
	_, err = MakePlan(PlanInput{Spec: testSpec(2, StrategyRolling, 1, 0, 2), Target: target, Slots: []Current{{Slot: 1, ServerID: "a"}, {Slot: 1, ServerID: "b"}}})
	require.ErrorContains(t, err, "two servers")
}

// A rollout narrowed to one slot (an update of that slot's server) replaces only it: the
// others are kept, an empty slot is not filled and a slot beyond the count is not
// removed; a slot beyond the count is a bad request.
func TestMakePlanOnlySlot(t *testing.T) {
	old := "img-2026-10-1-bbbb"
	slots := []Current{
		{Slot: 0, ServerID: "srv-0000-aaaa", ImageID: old, ImageVersion: "2026.10.1"},
		{Slot: 1, ServerID: "srv-1111-bbbb", ImageID: old, ImageVersion: "2026.10.1"},
		{Slot: 3, ServerID: "srv-3333-dddd", ImageID: old, ImageVersion: "2026.10.1"},
	}
	spec := testSpec(3, StrategyRolling, 1, 0, 3)
	one := 1
	spec.OnlySlot = &one
	p, err := MakePlan(PlanInput{Spec: spec, Target: target, Slots: slots})
	require.NoError(t, err)
	work := p.Work()
	require.Len(t, work, 1, "%s", p)
	require.Equal(t, 1, work[0].Slot)
	require.Equal(t, ActionReplace, work[0].Action)
	require.Equal(t, "srv-1111-bbbb", work[0].OldServerID)
	require.Len(t, p.Steps, 3, "slots 0 and 2 kept, slot 3 not removed: %s", p)
	require.Contains(t, strings.Join(p.Notes, "\n"), "only slot web-1 is in this rollout")

	two := 2
	spec.OnlySlot = &two
	p, err = MakePlan(PlanInput{Spec: spec, Target: target, Slots: slots})
	require.NoError(t, err)
	require.Len(t, p.Work(), 1)
	require.Equal(t, ActionCreate, p.Work()[0].Action, "an empty slot asked for is created")

	three := 3
	spec.OnlySlot = &three
	_, err = MakePlan(PlanInput{Spec: spec, Target: target, Slots: slots})
	var bad BadRequestError
	require.ErrorAs(t, err, &bad)
	require.Contains(t, err.Error(), "slot 3: want 0 to 2")
}
