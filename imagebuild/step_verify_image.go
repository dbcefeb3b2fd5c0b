package imagebuild

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepVerifyImage proves the candidate: it boots a server from it, logs in over SSH with
// a host key the new server printed (so the image makes fresh host keys), checks the
// server runs the recorded package list, runs the family's health check, and deletes the
// server. The result is recorded on the candidate; a failed one stays a candidate marked
// failed (or is deleted by the snapshot step's cleanup unless --keep-failed).
type stepVerifyImage struct{}

func (*stepVerifyImage) Name() string { return "verify" }

// verifySteps boot, log in and check; their cleanups delete the verification server as
// soon as they are done.
func verifySteps() []multistep.Step {
	return []multistep.Step{
		&stepRunServer{role: roleVerify},
		&stepWaitSSH{role: roleVerify},
		&stepCheckHealth{},
	}
}

func (s *stepVerifyImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	(&multistep.BasicRunner{Steps: verifySteps()}).Run(ctx, state)
	e, _ := candidate(state)
	verr := stepError(state)
	if verr == nil && ctx.Err() != nil {
		verr = fmt.Errorf("verification cancelled: %w", ctx.Err())
	}
	passed := verr == nil
	reason := "booted, SSH host key from its console"
	if packages(state) != nil {
		reason += ", package list as recorded"
	}
	for _, chk := range b.opts.Checks {
		reason += ", health check of " + chk.From + " passed"
	}
	if !passed {
		reason = verr.Error()
	}
	mctx, cancel := b.cleanupCtx()
	defer cancel()
	if _, err := b.cat.MarkVerification(mctx, e.Image.ID, passed, reason, b.opts.Now()); err != nil {
		if passed {
			return halt(state, err)
		}
		b.note("could not record the failed verification on image %s: %v", e.Image.ID, err)
	}
	if !passed {
		return halt(state, fmt.Errorf("verification of %s %s failed: %w", b.opts.Family.Name, e.Version, verr))
	}
	b.note("%s %s verified: %s", b.opts.Family.Name, e.Version, reason)
	return multistep.ActionContinue
}

func (*stepVerifyImage) Cleanup(multistep.StateBag) {}
