package failover

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
)

// Strategies.
const (
	StrategyRolling   = "rolling"
	StrategyBlueGreen = "bluegreen"
)

// Address modes.
const (
	AddressPerServer = "per_server"
	AddressGroup     = "group"
)

// Spec is a group as failover sees it: every default applied, every knob a plain value.
type Spec struct {
	Group          string
	Count          int
	Image          manifest.ImageRef
	Flavor         string
	Network        string
	KeyName        string
	SecurityGroups []string
	UserData       string
	Metadata       map[string]string

	// AddressMode is AddressPerServer (Addresses[i] belongs to slot i) or AddressGroup
	// (Addresses[0] follows slot 0; blue/green moves it once).
	AddressMode string
	Addresses   []manifest.Address

	Health Health

	Strategy       string
	MaxSurge       int
	MaxUnavailable int
	Soak           time.Duration // wait after the last move before retiring old servers
	KeepOld        time.Duration // old servers kept (not deleted) for rollback
	HealthGate     bool          // probe through the address after each move
	// Bake is how long each wave's new servers are watched behind their addresses before
	// the next wave starts (old servers still there); a failure rolls the wave back, and
	// with RollbackAll every wave so far. Zero: no bake.
	Bake        time.Duration
	RollbackAll bool
	// ReleaseAddresses: slots removed by a lowered count give their allocated addresses
	// back; otherwise the addresses stay recorded for a later raise.
	ReleaseAddresses bool
	// Alarm is the alarm gate (nil: none), checked before each wave, after each move and
	// during the bake.
	Alarm *Alarm
	// OnlySlot, when set, narrows a rollout to this slot (an update of one server): the
	// other slots are kept and nothing is removed.
	OnlySlot *int
}

// Health is how a replacement proves it is healthy.
type Health struct {
	Check            manifest.HealthCheck // HTTP, TCP, Command or Cloud; only the kind is read here
	Interval         time.Duration
	Timeout          time.Duration
	HealthyThreshold int
	GracePeriod      time.Duration
	Deadline         time.Duration
}

// SpecFromGroup turns a manifest group into a Spec through the manifest's accessors,
// so every documented default applies. The group must be replaceable.
func SpecFromGroup(g *manifest.Group) (Spec, error) {
	if g != nil && !g.IsReplaceable() {
		return Spec{}, fmt.Errorf("group %s is not replaceable (replaceable: false): it is patched in place, never rebuilt", g.Name)
	}
	return RecordSpec(g)
}

// RecordSpec is SpecFromGroup for what only records or reads a group's servers (adopt,
// show), which pets need as much as replaceable groups: it rebuilds nothing.
func RecordSpec(g *manifest.Group) (Spec, error) {
	if g == nil {
		return Spec{}, fmt.Errorf("no group")
	}
	hc := g.HealthCheck()
	s := Spec{
		Group:            g.Name,
		Count:            g.Count,
		Image:            g.Image,
		Flavor:           g.Flavor,
		Network:          g.Network,
		KeyName:          g.KeyName,
		SecurityGroups:   slices.Clone(g.SecurityGroups),
		UserData:         g.UserData,
		Metadata:         maps.Clone(g.Metadata),
		AddressMode:      g.FailoverMode(),
		Addresses:        g.AddressSlots(),
		Strategy:         g.Strategy(),
		MaxSurge:         g.MaxSurge(),
		MaxUnavailable:   g.MaxUnavailable(),
		Soak:             g.Rollout.Soak,
		KeepOld:          g.Rollout.KeepOld,
		HealthGate:       g.HealthGate(),
		Bake:             g.Rollout.Bake,
		RollbackAll:      g.RollbackOnFailure() == manifest.RollbackAll,
		ReleaseAddresses: g.Failover.ReleaseAddresses,
		Health: Health{
			Check:            hc,
			Interval:         hc.Interval,
			Timeout:          hc.Timeout,
			HealthyThreshold: hc.HealthyThreshold,
			GracePeriod:      hc.GracePeriod,
			Deadline:         hc.Deadline,
		},
	}
	if gt := g.Rollout.Gate; gt != nil && gt.Prometheus != nil && gt.Prometheus.Max != nil {
		s.Alarm = &Alarm{URL: gt.Prometheus.URL, Query: gt.Prometheus.Query, Max: *gt.Prometheus.Max}
	}
	return s, s.Validate()
}

// Validate checks the knobs failover depends on.
func (s Spec) Validate() error {
	switch {
	case s.Group == "":
		return fmt.Errorf("group has no name")
	case s.Count < 1:
		return fmt.Errorf("group %s: count %d: want at least 1", s.Group, s.Count)
	case s.Strategy != StrategyRolling && s.Strategy != StrategyBlueGreen:
		return fmt.Errorf("group %s: strategy %q: want rolling or bluegreen", s.Group, s.Strategy)
	case s.AddressMode != AddressPerServer && s.AddressMode != AddressGroup:
		return fmt.Errorf("group %s: failover mode %q: want per_server or group", s.Group, s.AddressMode)
	case s.AddressMode == AddressGroup && len(s.Addresses) > 1:
		return fmt.Errorf("group %s: failover mode group takes one address, got %d", s.Group, len(s.Addresses))
	case s.AddressMode == AddressPerServer && len(s.Addresses) > s.Count:
		return fmt.Errorf("group %s: %d failover addresses for %d servers", s.Group, len(s.Addresses), s.Count)
	case s.MaxSurge < 0 || s.MaxUnavailable < 0:
		return fmt.Errorf("group %s: max surge %d / max unavailable %d must not be negative", s.Group, s.MaxSurge, s.MaxUnavailable)
	case s.MaxSurge == 0 && s.MaxUnavailable == 0:
		return fmt.Errorf("group %s: max surge and max unavailable are both 0: nothing could ever be replaced", s.Group)
	case s.Bake < 0:
		return fmt.Errorf("group %s: bake %s must not be negative", s.Group, s.Bake)
	case s.Health.HealthyThreshold < 1:
		return fmt.Errorf("group %s: healthy threshold %d: want at least 1", s.Group, s.Health.HealthyThreshold)
	}
	return nil
}

// addressOf returns the failover address of slot i, if it has one.
func (s Spec) addressOf(slot int) (manifest.Address, bool) {
	if s.AddressMode == AddressGroup {
		if slot == 0 && len(s.Addresses) == 1 {
			return s.Addresses[0], true
		}
		return manifest.Address{}, false
	}
	if slot < len(s.Addresses) {
		return s.Addresses[slot], true
	}
	return manifest.Address{}, false
}

// slotName is how slots are named in notes and server names: web-0, web-1…
func (s Spec) slotName(slot int) string { return fmt.Sprintf("%s-%d", s.Group, slot) }
