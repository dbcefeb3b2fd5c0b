package orchestrator

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var decideAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// web is a replaceable group of 3 behind 3 addresses, with room for its surge of 1.
func webFacts() Facts {
	return Facts{
		Target: "web", Replaceable: true, Servers: 3, Family: "debian-12", Image: "debian-12 2026.11.1", Addresses: 3,
		Quota: &Quota{MaxInstances: 10, UsedInstances: 4, MaxCores: 20, UsedCores: 8, MaxRAM: 51200, UsedRAM: 8192},
		Surge: Surge{Servers: 1, VCPUs: 2, RAM: 2048},
	}
}

func dbFacts() Facts {
	f := webFacts()
	f.Target, f.Replaceable, f.Servers, f.Addresses = "db", false, 1, 1
	return f
}

func with(f Facts, change func(*Facts)) Facts { change(&f); return f }

var security = Options{ApplySecurityUpgrades: true, RebootIfRequired: true}

func TestDecideGolden(t *testing.T) {
	t.Parallel()
	tight := &Quota{MaxInstances: 5, UsedInstances: 4, MaxCores: 20, UsedCores: 16, MaxRAM: 51200, UsedRAM: 8192}
	tests := []struct {
		name string
		f    Facts
		req  Request
	}{
		{"rebuild", webFacts(), Request{}},
		{"rebuild-with-options", webFacts(), Request{Options: Options{ApplySecurityUpgrades: true, ApplyDockerUpgrades: true}}},
		{"rebuild-unlimited-quota", with(webFacts(), func(f *Facts) { f.Quota = &Quota{MaxInstances: -1, MaxCores: -1, MaxRAM: -1} }), Request{}},
		{"rebuild-quota-not-read", with(webFacts(), func(f *Facts) { f.Quota = nil }), Request{}},
		{"rebuild-no-surge", with(webFacts(), func(f *Facts) { f.Surge.Servers = 0; f.Quota = tight }), Request{}},
		{"inplace-pet", dbFacts(), Request{Options: security}},
		{"skip-pet-no-options", dbFacts(), Request{}},
		{"inplace-no-image", with(webFacts(), func(f *Facts) { f.Image = "" }), Request{Options: security}},
		{"inplace-quota", with(webFacts(), func(f *Facts) { f.Quota = tight; f.Surge.Servers = 3 }), Request{Options: Options{ApplySecurityUpgrades: true, ApplyWeaveUpgrades: true}}},
		{"inplace-no-address", with(webFacts(), func(f *Facts) { f.Addresses = 0 }), Request{Options: security}},
		{"inplace-pet-no-image-no-quota", with(dbFacts(), func(f *Facts) { f.Image = ""; f.Quota = tight }), Request{Options: security}},
		{"forced-rebuild-no-address", with(webFacts(), func(f *Facts) { f.Addresses = 0 }), Request{Force: ForceRebuild}},
		{"forced-rebuild-quota", with(webFacts(), func(f *Facts) { f.Quota = tight; f.Surge.Servers = 3 }), Request{Force: ForceRebuild}},
		{"forced-inplace", webFacts(), Request{Force: ForceInPlace, Options: Options{ApplyDockerUpgrades: true}}},
		{"forced-inplace-no-servers", with(dbFacts(), func(f *Facts) { f.Servers = 0 }), Request{Force: ForceInPlace, Options: security}},
		{"skip-no-servers", with(dbFacts(), func(f *Facts) { f.Servers = 0 }), Request{Options: security}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decide(decideAt, tt.f, tt.req)
			require.NoError(t, err)
			again, err := Decide(decideAt, tt.f, tt.req)
			require.NoError(t, err)
			require.Equal(t, d, again, "pure: same input, same decision")
			checkGolden(t, "policy-"+tt.name, d.String())
			// The reason always starts with the action.
			prefix := map[Action]string{ActionRebuild: "rebuild: ", ActionInPlace: "in-place: ", ActionSkip: "skip: "}[d.Action]
			assert.True(t, strings.HasPrefix(d.Reason, prefix), d.Reason)
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./orchestrator -run %s -update", t.Name())
	assert.Equal(t, string(want), got)
}

// TestDecideTable is the policy's rule as a table: rebuild first; in place only for the
// listed reasons.
func TestDecideTable(t *testing.T) {
	t.Parallel()
	tight := &Quota{MaxInstances: 4, UsedInstances: 4, MaxCores: -1, MaxRAM: -1}
	cases := []struct {
		name string
		f    Facts
		req  Request
		want Action
	}{
		{"replaceable with image, address, quota", webFacts(), Request{}, ActionRebuild},
		{"options do not turn a rebuild into in-place", webFacts(), Request{Options: security}, ActionRebuild},
		{"pet", dbFacts(), Request{Options: security}, ActionInPlace},
		{"no image", with(webFacts(), func(f *Facts) { f.Image = "" }), Request{Options: security}, ActionInPlace},
		{"no quota for the surge", with(webFacts(), func(f *Facts) { f.Quota = tight }), Request{Options: security}, ActionInPlace},
		{"cores short", with(webFacts(), func(f *Facts) { f.Quota = &Quota{MaxInstances: -1, MaxCores: 9, UsedCores: 8, MaxRAM: -1} }), Request{Options: security}, ActionInPlace},
		{"RAM short", with(webFacts(), func(f *Facts) { f.Quota = &Quota{MaxInstances: -1, MaxCores: -1, MaxRAM: 9000, UsedRAM: 8192} }), Request{Options: security}, ActionInPlace},
		{"exactly enough", with(webFacts(), func(f *Facts) {
			f.Quota = &Quota{MaxInstances: 5, UsedInstances: 4, MaxCores: 10, UsedCores: 8, MaxRAM: 10240, UsedRAM: 8192}
		}), Request{}, ActionRebuild},
		{"over quota already", with(webFacts(), func(f *Facts) { f.Quota = &Quota{MaxInstances: 3, UsedInstances: 4, MaxCores: -1, MaxRAM: -1} }), Request{Options: security}, ActionInPlace},
		{"no failover address", with(webFacts(), func(f *Facts) { f.Addresses = 0 }), Request{Options: security}, ActionInPlace},
		{"no failover address, forced", with(webFacts(), func(f *Facts) { f.Addresses = 0 }), Request{Force: ForceRebuild}, ActionRebuild},
		{"forced in place", webFacts(), Request{Force: ForceInPlace, Options: security}, ActionInPlace},
		{"pet without options", dbFacts(), Request{}, ActionSkip},
		{"reboot only is in-place work", dbFacts(), Request{Options: Options{RebootIfRequired: true}}, ActionInPlace},
		{"first deploy, no servers yet", with(webFacts(), func(f *Facts) { f.Servers = 0 }), Request{}, ActionRebuild},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decide(decideAt, c.f, c.req)
			require.NoError(t, err)
			assert.Equal(t, c.want, d.Action, d.Reason)
			assert.Equal(t, decideAt, d.DecidedAt)
		})
	}
}

func TestDecideRefuses(t *testing.T) {
	t.Parallel()
	_, err := Decide(decideAt, dbFacts(), Request{Force: ForceRebuild})
	assert.EqualError(t, err, "target db: cannot force a rebuild: the group is replaceable: false (a stateful pet), a rebuild would lose its state; patch it in place, or mark it replaceable in the manifest")
	_, err = Decide(decideAt, with(webFacts(), func(f *Facts) { f.Image = "" }), Request{Force: ForceRebuild})
	assert.EqualError(t, err, "target web: cannot force a rebuild: family debian-12 has no active image: build or register an image first")
	_, err = Decide(decideAt, webFacts(), Request{Force: ForceInPlace})
	assert.EqualError(t, err, "target web: --in-place needs something to do: --apply-security-upgrades, --reboot-if-required, --apply-docker-upgrades or --apply-weave-upgrades")
	_, err = Decide(decideAt, webFacts(), Request{Force: "sideways"})
	assert.EqualError(t, err, `target web: force "sideways": want "rebuild", "inplace" or none`)
}

func TestDecisionsGolden(t *testing.T) {
	t.Parallel()
	var ds Decisions
	for _, in := range []struct {
		f   Facts
		req Request
	}{
		{webFacts(), Request{Options: security}},
		{dbFacts(), Request{Options: security}},
		{with(webFacts(), func(f *Facts) { f.Target = "workers"; f.Addresses = 0; f.Servers = 5 }), Request{Options: security}},
	} {
		d, err := Decide(decideAt, in.f, in.req)
		require.NoError(t, err)
		ds = append(ds, d)
	}
	checkGolden(t, "policy-deploy-three-targets", ds.String())
	assert.Equal(t, "no targets\n", Decisions(nil).String())
}

func TestRequestFromSchedule(t *testing.T) {
	t.Parallel()
	m, err := manifest.Load("../examples/remint.yaml")
	require.NoError(t, err)
	want := map[string]Force{"weekend-web": ForceRebuild, "weekly-db": ForceInPlace}
	for name, f := range want {
		got, ok := ForceOf(m.Schedules[name].Action)
		assert.True(t, ok)
		assert.Equal(t, f, got, name)
	}
	got, ok := ForceOf(manifest.ActionUpdate)
	assert.True(t, ok)
	assert.Equal(t, ForceNone, got)
	_, ok = ForceOf(manifest.ActionBuildImage)
	assert.False(t, ok)
	assert.Equal(t, security, OptionsOf(m.Schedules["weekly-db"].Options))
}
