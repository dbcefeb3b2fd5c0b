package manifest

import (
	"cmp"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/teambition/rrule-go"
)

// Where the manifest is looked for.
const (
	// EnvPath names the environment variable that overrides DefaultFile.
	EnvPath = "REMINT_MANIFEST"
	// DefaultFile is the manifest read when neither a flag nor EnvPath names one.
	DefaultFile = "remint.yaml"
)

// Allowed values of the enumerations.
const (
	StrategyRolling   = "rolling"
	StrategyBlueGreen = "bluegreen"

	RollbackWave = "wave"
	RollbackAll  = "all"

	ModePerServer = "per_server"
	ModeGroup     = "group"

	RebootNever      = "never"
	RebootIfRequired = "if-required"
	RebootAlways     = "always"

	ActionBuildImage = "build-image"
	ActionRebuild    = "rebuild"
	ActionInPlace    = "inplace"
	ActionUpdate     = "update"
)

// Defaults filled in by Load and returned by the accessors for unset fields.
const (
	DefaultStateFile      = "remint.db"
	DefaultRelease        = "DTSTART:20240101T020000Z RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=2"
	DefaultRetention      = 3
	DefaultStrategy       = StrategyRolling
	DefaultMaxSurge       = 1
	DefaultMaxUnavailable = 0
	DefaultRollback       = RollbackWave
	DefaultFailoverMode   = ModePerServer
	DefaultReboot         = RebootIfRequired
	DefaultConcurrency    = 1

	DefaultHealthInterval     = time.Second
	DefaultHealthTimeout      = 2 * time.Second
	DefaultHealthyThreshold   = 3
	DefaultUnhealthyThreshold = 3
	DefaultHealthDeadline     = 5 * time.Minute
	DefaultHTTPPort           = 8080
	DefaultHTTPPath           = "/healthz"
	DefaultHTTPStatus         = 200
)

var (
	strategies = []string{StrategyRolling, StrategyBlueGreen}
	modes      = []string{ModePerServer, ModeGroup}
	rollbacks  = []string{RollbackWave, RollbackAll}
	reboots    = []string{RebootNever, RebootIfRequired, RebootAlways}
	actions    = []string{ActionBuildImage, ActionRebuild, ActionInPlace, ActionUpdate}
)

// DefaultPath is the manifest to read when no -f flag is given: $REMINT_MANIFEST, else
// remint.yaml in the working directory.
func DefaultPath() string {
	if p := os.Getenv(EnvPath); p != "" {
		return p
	}
	return DefaultFile
}

// StatePath returns where state lives: a postgres:// URL unchanged, otherwise the SQLite
// file as an absolute path (relative ones resolve from the manifest's directory; default
// remint.db beside the manifest).
func (m *Manifest) StatePath() string {
	s := m.State
	if s == "" {
		s = DefaultStateFile
	}
	if m.StateIsPostgres() || filepath.IsAbs(s) {
		return s
	}
	dir := m.dir
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Dir(m.Path)) // a manifest built in code: from the working directory
	}
	return filepath.Join(dir, s)
}

// StateIsPostgres reports whether State selects PostgreSQL rather than SQLite.
func (m *Manifest) StateIsPostgres() bool {
	return strings.HasPrefix(m.State, "postgres://") || strings.HasPrefix(m.State, "postgresql://")
}

// FamilyNames, GroupNames and ScheduleNames list the names in sorted order.
func (m *Manifest) FamilyNames() []string   { return slices.Sorted(maps.Keys(m.Families)) }
func (m *Manifest) GroupNames() []string    { return slices.Sorted(maps.Keys(m.Groups)) }
func (m *Manifest) ScheduleNames() []string { return slices.Sorted(maps.Keys(m.Schedules)) }

// FullUpgrade reports whether builds run apt full-upgrade (default true).
func (f *Family) FullUpgrade() bool { return boolOr(f.Provision.FullUpgrade, true) }

// ReleaseRule is the family's release rrule, DefaultRelease when unset.
func (f *Family) ReleaseRule() string { return cmp.Or(f.Release, DefaultRelease) }

// ReleaseSet parses ReleaseRule with ParseRRule.
func (f *Family) ReleaseSet() (*rrule.Set, error) { return ParseRRule(f.ReleaseRule()) }

// Keep is how many non-retired versions to keep (Retention, default 3).
func (f *Family) Keep() int { return cmp.Or(f.Retention, DefaultRetention) }

// IsReplaceable reports whether the group may be rebuilt (default true); false marks pets
// that are only ever patched in place.
func (g *Group) IsReplaceable() bool { return boolOr(g.Replaceable, true) }

// Strategy is rolling (default) or bluegreen.
func (g *Group) Strategy() string { return cmp.Or(g.Rollout.Strategy, DefaultStrategy) }

// MaxSurge is how many extra servers a rolling rollout may run at once (default 1).
func (g *Group) MaxSurge() int { return intOr(g.Rollout.MaxSurge, DefaultMaxSurge) }

// MaxUnavailable is how many slots a rolling rollout may take down at once (default 0).
func (g *Group) MaxUnavailable() int { return intOr(g.Rollout.MaxUnavailable, DefaultMaxUnavailable) }

// HealthGate reports whether each address move is verified through the address (default true).
func (g *Group) HealthGate() bool { return boolOr(g.Rollout.HealthGate, true) }

// RollbackOnFailure is what a failed bake rolls back: wave (default) or all.
func (g *Group) RollbackOnFailure() string {
	return cmp.Or(g.Rollout.RollbackOnFailure, DefaultRollback)
}

// FailoverMode is per_server (default) or group.
func (g *Group) FailoverMode() string { return cmp.Or(g.Failover.Mode, DefaultFailoverMode) }

// RebootPolicy is the in-place reboot policy: never, if-required (default) or always.
func (g *Group) RebootPolicy() string { return cmp.Or(g.InPlace.Reboot, DefaultReboot) }

// Concurrency is how many servers the in-place fallback patches at once (default 1).
func (g *Group) Concurrency() int { return cmp.Or(g.InPlace.Concurrency, DefaultConcurrency) }

// HealthCheck is the group's health check with every default resolved.
func (g *Group) HealthCheck() HealthCheck { return g.Health.WithDefaults() }

// AddressSlots returns the failover address of each slot: Count entries in per_server
// mode (a single allocate_from entry repeated for every slot), the one group address in
// group mode, nil when the group has no addresses.
func (g *Group) AddressSlots() []Address {
	a := g.Failover.Addresses
	switch {
	case len(a) == 0:
		return nil
	case g.FailoverMode() == ModeGroup:
		return slices.Clone(a[:1])
	case len(a) == 1 && a[0].AllocateFrom != "" && g.Count > 1:
		out := make([]Address, g.Count)
		for i := range out {
			out[i] = a[0]
		}
		return out
	default:
		return slices.Clone(a)
	}
}

// Kind is "http", "tcp", "command" or "cloud": which check the health section selects
// (http when none is written). A loaded manifest has exactly one; for one built in code
// with several, the first of http, tcp, command, cloud wins.
func (h HealthCheck) Kind() string {
	switch {
	case h.HTTP != nil:
		return "http"
	case h.TCP != nil:
		return "tcp"
	case h.Command != "":
		return "command"
	case h.Cloud != nil:
		return "cloud"
	default:
		return "http"
	}
}

// WithDefaults returns a copy with every unset field defaulted (an HTTP check when no
// check is selected). The HTTP and TCP structs are copied, never shared.
func (h HealthCheck) WithDefaults() HealthCheck {
	h.Interval = cmp.Or(h.Interval, DefaultHealthInterval)
	h.Timeout = cmp.Or(h.Timeout, DefaultHealthTimeout)
	h.HealthyThreshold = cmp.Or(h.HealthyThreshold, DefaultHealthyThreshold)
	h.UnhealthyThreshold = cmp.Or(h.UnhealthyThreshold, DefaultUnhealthyThreshold)
	h.Deadline = cmp.Or(h.Deadline, DefaultHealthDeadline)
	if h.TCP != nil {
		t := *h.TCP
		h.TCP = &t
	}
	if h.Cloud != nil {
		h.Cloud = &CloudCheck{}
	}
	if h.Kind() == "http" {
		c := HTTPCheck{}
		if h.HTTP != nil {
			c = *h.HTTP
		}
		c.Port = cmp.Or(c.Port, DefaultHTTPPort)
		c.Path = cmp.Or(c.Path, DefaultHTTPPath)
		c.Status = cmp.Or(c.Status, DefaultHTTPStatus)
		h.HTTP = &c
	}
	return h
}

// Set parses the schedule's rrule with ParseRRule.
func (s *Schedule) Set() (*rrule.Set, error) { return ParseRRule(s.RRule) }

// applyDefaults fills every unset field of a validated manifest so that callers reading
// fields directly see the same values as the accessors.
func (m *Manifest) applyDefaults() {
	if m.State == "" {
		m.State = DefaultStateFile
	}
	for _, f := range m.Families {
		f.Release = f.ReleaseRule()
		f.Retention = f.Keep()
		f.Provision.FullUpgrade = ptr(f.FullUpgrade())
		if w := f.Provision.Weave; w != nil {
			w.SHA256 = strings.ToLower(w.SHA256)
		}
	}
	for _, g := range m.Groups {
		if g.SSHUser == "" {
			if f := m.Families[g.Image.Family]; f != nil {
				g.SSHUser = f.SSHUser
			}
		}
		g.Replaceable = ptr(g.IsReplaceable())
		g.Rollout.Strategy = g.Strategy()
		g.Rollout.MaxSurge = ptr(g.MaxSurge())
		g.Rollout.MaxUnavailable = ptr(g.MaxUnavailable())
		g.Rollout.HealthGate = ptr(g.HealthGate())
		g.Failover.Mode = g.FailoverMode()
		g.InPlace.Reboot = g.RebootPolicy()
		g.InPlace.Concurrency = g.Concurrency()
		g.Health = g.Health.WithDefaults()
	}
}

func ptr[T any](v T) *T { return &v }

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
