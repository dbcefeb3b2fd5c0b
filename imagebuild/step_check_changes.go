package imagebuild

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
)

// stepCheckChanges, when only-if-changed builds are asked for, decides whether a build
// would make anything new. A build is needed when there is no active version, when the
// source image is another one than the active version was built from, when the family's
// provisioning changed, or when the active version has upgradable packages. That last
// question is answered where it is true: on a server booted from the active image
// (apt-get update, then a simulated full upgrade) — the repository's state, seen with
// the image's own apt configuration, and no guess about versions. The probe server costs
// one boot, much less than a build.
type stepCheckChanges struct{}

func (*stepCheckChanges) Name() string { return "check for changes" }

func probeSteps() []multistep.Step {
	return []multistep.Step{
		&stepRunServer{role: roleProbe},
		&stepWaitSSH{role: roleProbe},
		&stepListUpgrades{},
	}
}

const keyUpgradable = "upgradable"

func (s *stepCheckChanges) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	if !b.opts.OnlyIfChanged && !b.opts.OnlyIfSecurityUpdates {
		return multistep.ActionContinue
	}
	e, ok := active(state)
	src := sourceImage(state)
	switch {
	case !ok:
		b.note("build needed: family %s has no active version", b.opts.Family.Name)
		return multistep.ActionContinue
	case b.opts.OnlyIfSecurityUpdates:
		return s.checkSecurity(ctx, state, e)
	case e.Image.Properties[catalog.PropSourceImage] != src.ID:
		b.note("build needed: source image is %s, %s was built from %q", src.ID, e.Version, e.Image.Properties[catalog.PropSourceImage])
		return multistep.ActionContinue
	case e.Image.Properties[catalog.PropProvisionDigest] != provisionDigest(b.opts.Family):
		b.note("build needed: the family's provisioning changed since %s", e.Version)
		return multistep.ActionContinue
	}
	if act, ok := probe(ctx, state, e, "upgrades"); !ok {
		return act
	}
	up, _ := state.Get(keyUpgradable).([]string)
	if len(up) > 0 {
		b.note("build needed: %s has %d upgradable packages (%s)", e.Version, len(up), strings.Join(up[:min(len(up), 5)], ", "))
		return multistep.ActionContinue
	}
	return skip(ctx, state, e, fmt.Sprintf("nothing changed since %s: same source image %s, same provisioning, no upgradable packages (checked on a server booted from it)", e.Version, src.ID))
}

// probe boots a server from the active version e and lists its pending upgrades
// (probeSteps); ok is false when the check could not be made, with the action to return.
func probe(ctx context.Context, state multistep.StateBag, e catalog.Entry, what string) (multistep.StepAction, bool) {
	b := buildOf(state)
	(&multistep.BasicRunner{Steps: probeSteps()}).Run(ctx, state)
	if err := stepError(state); err != nil {
		return halt(state, fmt.Errorf("check %s %s for %s: %w", b.opts.Family.Name, e.Version, what, err)), false
	}
	if ctx.Err() != nil {
		return multistep.ActionHalt, false
	}
	return multistep.ActionContinue, true
}

// skip records that no build is needed over the active version e, and why, and ends the build.
func skip(ctx context.Context, state multistep.StateBag, e catalog.Entry, reason string) multistep.StepAction {
	b := buildOf(state)
	if err := b.cat.RecordSkippedBuild(ctx, e, reason, b.opts.Now()); err != nil {
		return halt(state, err)
	}
	b.mu.Lock()
	b.skipped = true
	b.res.Status, b.res.SkipReason = "skipped", reason
	b.res.Version, b.res.ImageID = e.Version.String(), e.Image.ID
	b.mu.Unlock()
	return multistep.ActionHalt
}

// checkSecurity boots a probe from the active version e and builds only when it finds
// pending security updates; otherwise the build is skipped, and the skip recorded.
func (s *stepCheckChanges) checkSecurity(ctx context.Context, state multistep.StateBag, e catalog.Entry) multistep.StepAction {
	b := buildOf(state)
	if act, ok := probe(ctx, state, e, "security updates"); !ok {
		return act
	}
	b.mu.Lock()
	sec := b.res.SecurityUpdates
	b.mu.Unlock()
	if len(sec) > 0 {
		list := make([]string, 0, len(sec))
		for _, u := range sec[:min(len(sec), 5)] {
			list = append(list, fmt.Sprintf("%s %s → %s", u.Name, u.Installed, u.SecurityVersion))
		}
		b.note("build needed: %s has %d pending security updates (%s)", e.Version, len(sec), strings.Join(list, ", "))
		return multistep.ActionContinue
	}
	return skip(ctx, state, e, fmt.Sprintf("no pending security updates for %s (checked on a server booted from it)", e.Version))
}

func (*stepCheckChanges) Cleanup(multistep.StateBag) {}

// stepListUpgrades refreshes apt's lists on the probe server and lists what a full
// upgrade would change.
type stepListUpgrades struct{}

func (*stepListUpgrades) Name() string { return "list upgrades" }

func (s *stepListUpgrades) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	c := conn(state, roleProbe)
	if _, err := b.run(ctx, c, false, aptGet("-o", "Acquire::Retries=3", "update")...); err != nil {
		return halt(state, err)
	}
	if b.opts.OnlyIfSecurityUpdates {
		// The security updates among the pending ones, classified as in-place runs and
		// unattended-upgrades classify them (the Debian-Security origin).
		ups, err := debian.Pending(ctx, runner{b: b, c: c, probe: true})
		if err != nil {
			return halt(state, err)
		}
		var sec []debian.Upgrade
		var set []string
		for _, u := range ups {
			if u.Security {
				sec = append(sec, u)
				set = append(set, u.Name+" "+u.SecurityVersion)
			}
		}
		b.mu.Lock()
		b.res.SecurityUpdates = sec
		b.mu.Unlock()
		state.Put(keyUpgradable, set)
		return multistep.ActionContinue
	}
	// The active image holds the family's packages already (a changed package list
	// changes the provisioning digest), so a simulated full upgrade covers them.
	res, err := b.run(ctx, c, false, aptGet("-s", "full-upgrade")...)
	if err != nil {
		return halt(state, err)
	}
	up := debian.ParseSimulatedUpgrade(res.Stdout)
	state.Put(keyUpgradable, up)
	return multistep.ActionContinue
}

func (*stepListUpgrades) Cleanup(multistep.StateBag) {}
