package orchestrator

import (
	"fmt"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
)

// Action is what the policy chose for a target.
type Action string

const (
	ActionRebuild Action = "rebuild" // replace the servers from the image, behind the failover addresses
	ActionInPlace Action = "inplace" // patch the running servers over SSH
	ActionSkip    Action = "skip"    // nothing to do, and the reason says why
)

// Force is the operator overriding the policy (remint deploy --rebuild / --in-place, or a
// schedule whose action is rebuild or inplace rather than update).
type Force string

const (
	ForceNone    Force = ""
	ForceRebuild Force = "rebuild"
	ForceInPlace Force = "inplace"
)

// Options are the "deploy with options" switches. They say what in-place work does; a
// rebuild boots the image, which carries its own upgrades.
type Options struct {
	ApplySecurityUpgrades bool `json:"apply_security_upgrades"`
	RebootIfRequired      bool `json:"reboot_if_required"`
	ApplyDockerUpgrades   bool `json:"apply_docker_upgrades"`
	ApplyWeaveUpgrades    bool `json:"apply_weave_upgrades"`
}

// Any reports whether any in-place work is asked for.
func (o Options) Any() bool {
	return o.ApplySecurityUpgrades || o.RebootIfRequired || o.ApplyDockerUpgrades || o.ApplyWeaveUpgrades
}

// String lists the options asked for, "none" without any.
func (o Options) String() string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{o.ApplySecurityUpgrades, "security upgrades"}, {o.RebootIfRequired, "reboot if required"},
		{o.ApplyDockerUpgrades, "docker upgrades"}, {o.ApplyWeaveUpgrades, "weave upgrades"},
	} {
		if x.on {
			out = append(out, x.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// Quota is the project's compute quota and usage. A negative maximum means unlimited.
type Quota struct {
	MaxInstances  int `json:"max_instances"`
	UsedInstances int `json:"used_instances"`
	MaxCores      int `json:"max_cores"`
	UsedCores     int `json:"used_cores"`
	MaxRAM        int `json:"max_ram_mib"`
	UsedRAM       int `json:"used_ram_mib"`
}

// Surge is what a rebuild creates before old servers go: Servers at once (first-deploy
// creates plus the plan's concurrent surge, see SurgeServers), each of the group's flavor.
type Surge struct {
	Servers int `json:"servers"`
	VCPUs   int `json:"vcpus"`   // per server
	RAM     int `json:"ram_mib"` // per server, MiB
}

// Facts are what the policy looks at for one target (a group).
type Facts struct {
	Target      string `json:"target"`
	Replaceable bool   `json:"replaceable"`
	Servers     int    `json:"servers"` // servers the group runs now
	// Image is the image a rebuild would boot ("debian-12 2026.11.1"), "" when the
	// family has no active image (or a pinned one is missing).
	Image     string `json:"image,omitempty"`
	Family    string `json:"family,omitempty"`
	Addresses int    `json:"addresses"` // failover addresses in front of the group
	// Quota is nil when it was not read (the decision then says so).
	Quota *Quota `json:"quota,omitempty"`
	Surge Surge  `json:"surge"`
}

// Request is what the operator (or the schedule) asked for.
type Request struct {
	Force   Force   `json:"force,omitempty"`
	Options Options `json:"options"`
}

// Decision is the policy's choice for one target, with the reason in words.
type Decision struct {
	Target    string    `json:"target"`
	Action    Action    `json:"action"`
	Reason    string    `json:"reason"`
	Options   Options   `json:"options"`
	Force     Force     `json:"force,omitempty"`
	Notes     []string  `json:"notes,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
	DecidedAt time.Time `json:"decided_at"`
	Facts     Facts     `json:"facts"`
}

// Decide chooses rebuild or in-place for a target, rebuild first: in place only when the
// group is not replaceable (a stateful pet), there is no active image to rebuild onto,
// the quota cannot hold the surge, the group has no failover address (a rebuild would
// give every server a new address clients must find), or the operator forces it. It is
// pure: the same facts, request and now always give the same decision.
//
// Errors are requests that cannot be carried out (forcing a rebuild of a pet or without
// an image, forcing in-place without any in-place option): bad input, nothing was done.
func Decide(now time.Time, f Facts, req Request) (Decision, error) {
	d := Decision{Target: f.Target, Options: req.Options, Force: req.Force, DecidedAt: now.UTC(), Facts: f}
	short := quotaShortfall(f.Quota, f.Surge)
	switch req.Force {
	case ForceRebuild:
		if !f.Replaceable {
			return Decision{}, fmt.Errorf("target %s: cannot force a rebuild: the group is replaceable: false (a stateful pet), a rebuild would lose its state; patch it in place, or mark it replaceable in the manifest", f.Target)
		}
		if f.Image == "" {
			return Decision{}, fmt.Errorf("target %s: cannot force a rebuild: %s: build or register an image first", f.Target, noImage(f))
		}
		d.Action = ActionRebuild
		d.Reason = "rebuild: forced (--rebuild), onto " + f.Image
		if f.Addresses == 0 {
			d.Reason += "; the group has no failover address, so " + noAddressCost(f)
		}
		if short != "" {
			d.Warnings = append(d.Warnings, "quota: "+short+": creating the new servers may fail, and the rollout then rolls back")
		}
		d.Notes = append(d.Notes, rebuildNotes(f, req)...)
		return d, nil

	case ForceInPlace:
		if !req.Options.Any() {
			return Decision{}, fmt.Errorf("target %s: --in-place needs something to do: --apply-security-upgrades, --reboot-if-required, --apply-docker-upgrades or --apply-weave-upgrades", f.Target)
		}
		if f.Servers == 0 {
			d.Action, d.Reason = ActionSkip, "skip: in place forced (--in-place), but the group has no servers to patch"
			return d, nil
		}
		d.Action = ActionInPlace
		d.Reason = "in-place: forced (--in-place), " + req.Options.String()
		if f.Replaceable && f.Image != "" && f.Addresses > 0 && short == "" {
			d.Notes = append(d.Notes, fmt.Sprintf("a rebuild onto %s was possible (replaceable, %s, %s) and would avoid the downtime of patching and rebooting in place",
				f.Image, plural(f.Addresses, "failover address", "failover addresses"), quotaFits(f.Quota, f.Surge)))
		}
		return d, nil

	case ForceNone:
	default:
		return Decision{}, fmt.Errorf("target %s: force %q: want %q, %q or none", f.Target, req.Force, ForceRebuild, ForceInPlace)
	}

	var why []string
	if !f.Replaceable {
		why = append(why, fmt.Sprintf("group %s is replaceable: false (a stateful pet)", f.Target))
	}
	if f.Image == "" {
		why = append(why, noImage(f))
	}
	if f.Replaceable && f.Addresses == 0 {
		why = append(why, "the group has no failover address: in a rebuild "+noAddressCost(f)+" (--rebuild accepts that)")
	}
	if f.Replaceable && f.Image != "" && short != "" {
		why = append(why, short)
	}
	if len(why) == 0 {
		d.Action = ActionRebuild
		d.Reason = fmt.Sprintf("rebuild: replaceable, onto %s, behind %s, %s",
			f.Image, plural(f.Addresses, "failover address", "failover addresses"), quotaFits(f.Quota, f.Surge))
		d.Notes = append(d.Notes, rebuildNotes(f, req)...)
		return d, nil
	}
	reason := "in-place: " + strings.Join(why, "; ")
	switch {
	case !req.Options.Any():
		d.Action = ActionSkip
		d.Reason = "skip: " + reason + "; and no in-place option was asked for (--apply-security-upgrades, --reboot-if-required, --apply-docker-upgrades, --apply-weave-upgrades)"
	case f.Servers == 0:
		d.Action = ActionSkip
		d.Reason = "skip: " + reason + "; and the group has no servers to patch"
	default:
		d.Action = ActionInPlace
		d.Reason = reason
	}
	return d, nil
}

// noImage says there is no image to rebuild onto.
func noImage(f Facts) string {
	if f.Family == "" {
		return "no image to rebuild onto"
	}
	return fmt.Sprintf("family %s has no active image", f.Family)
}

// noAddressCost is what a rebuild of a group behind no failover address costs.
func noAddressCost(f Facts) string {
	return fmt.Sprintf("each of the %s would be replaced by one with a new address, and nothing moves traffic there: clients must find the new servers themselves (DNS, service discovery), and each slot is gone from its old address once its old server is retired",
		plural(max(f.Servers, 1), "server", "servers"))
}

// rebuildNotes are what a rebuild does not do of what was asked.
func rebuildNotes(f Facts, req Request) []string {
	var out []string
	if req.Options.Any() {
		out = append(out, fmt.Sprintf("options (%s) are not applied in place: the new servers boot %s, which carries its own upgrades", req.Options, f.Image))
	}
	if f.Quota == nil && f.Surge.Servers > 0 {
		out = append(out, fmt.Sprintf("compute quota was not read: the %s of the surge may not fit", plural(f.Surge.Servers, "new server", "new servers")))
	}
	return out
}

// quotaShortfall says which quota cannot hold the surge, "" when all can (or the quota is
// unknown, or nothing is created).
func quotaShortfall(q *Quota, s Surge) string {
	if q == nil || s.Servers <= 0 {
		return ""
	}
	var out []string
	if free, ok := headroom(q.MaxInstances, q.UsedInstances); ok && free < s.Servers {
		out = append(out, fmt.Sprintf("quota allows %s, surge needs %d", plural(free, "more instance", "more instances"), s.Servers))
	}
	if free, ok := headroom(q.MaxCores, q.UsedCores); ok && free < s.Servers*s.VCPUs {
		out = append(out, fmt.Sprintf("quota allows %s, surge needs %d (%d × %d vCPUs)", plural(free, "more core", "more cores"), s.Servers*s.VCPUs, s.Servers, s.VCPUs))
	}
	if free, ok := headroom(q.MaxRAM, q.UsedRAM); ok && free < s.Servers*s.RAM {
		out = append(out, fmt.Sprintf("quota allows %d MiB more RAM, surge needs %d MiB (%d × %d MiB)", free, s.Servers*s.RAM, s.Servers, s.RAM))
	}
	return strings.Join(out, "; ")
}

// quotaFits describes the surge that fits.
func quotaFits(q *Quota, s Surge) string {
	switch {
	case s.Servers <= 0:
		return "no extra servers needed (max surge 0)"
	case q == nil:
		return fmt.Sprintf("surge of %s (quota not read)", plural(s.Servers, "server", "servers"))
	}
	var parts []string
	if free, ok := headroom(q.MaxInstances, q.UsedInstances); ok {
		parts = append(parts, fmt.Sprintf("%d of %d free instances", s.Servers, free))
	}
	if free, ok := headroom(q.MaxCores, q.UsedCores); ok {
		parts = append(parts, fmt.Sprintf("%d of %d free cores", s.Servers*s.VCPUs, free))
	}
	if free, ok := headroom(q.MaxRAM, q.UsedRAM); ok {
		parts = append(parts, fmt.Sprintf("%d of %d MiB free RAM", s.Servers*s.RAM, free))
	}
	if len(parts) == 0 {
		parts = append(parts, "quota unlimited")
	}
	return fmt.Sprintf("quota holds the surge of %s (%s)", plural(s.Servers, "server", "servers"), strings.Join(parts, ", "))
}

// headroom is what is left of a limit; ok is false for unlimited (negative) limits.
func headroom(maxv, used int) (int, bool) {
	if maxv < 0 {
		return 0, false
	}
	return max(maxv-used, 0), true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ForceOf maps a schedule's action to the policy's request: rebuild and inplace force
// the choice, update lets the policy decide. build-image is not a target action: false.
func ForceOf(action string) (Force, bool) {
	switch action {
	case manifest.ActionRebuild:
		return ForceRebuild, true
	case manifest.ActionInPlace:
		return ForceInPlace, true
	case manifest.ActionUpdate:
		return ForceNone, true
	}
	return ForceNone, false
}

// OptionsOf converts a manifest schedule's options.
func OptionsOf(o manifest.ScheduleOptions) Options {
	return Options{ApplySecurityUpgrades: o.ApplySecurityUpgrades, RebootIfRequired: o.RebootIfRequired,
		ApplyDockerUpgrades: o.ApplyDockerUpgrades, ApplyWeaveUpgrades: o.ApplyWeaveUpgrades}
}
