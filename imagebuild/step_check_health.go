package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/health"
)

// stepCheckHealth checks the verification server: its packages are the recorded ones,
// and it passes the family's health check (HTTP, TCP, or a command over SSH).
type stepCheckHealth struct{}

func (*stepCheckHealth) Name() string { return "check health" }

func (s *stepCheckHealth) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	srv, _ := server(state, roleVerify)
	c := conn(state, roleVerify)
	if want := packages(state); want != nil {
		res, err := c.Run(ctx, debian.DpkgQueryArgv())
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			return halt(state, fmt.Errorf("list packages on the verification server: %w", err))
		}
		got, err := debian.ParseDpkgQuery(res.Stdout)
		if err != nil {
			return halt(state, err)
		}
		if d := debian.Diff(want, got); len(d) > 0 {
			var lines []string
			for _, ch := range d[:min(len(d), 5)] {
				lines = append(lines, fmt.Sprintf("%s %s→%s", ch.Name, orNone(ch.From), orNone(ch.To)))
			}
			return halt(state, fmt.Errorf("the image's packages differ from those recorded on the builder (%d: %s)", len(d), strings.Join(lines, ", ")))
		}
	}
	if len(b.opts.Checks) == 0 {
		return multistep.ActionContinue
	}
	// The groups' checks run at once: each waits for its own healthy threshold.
	r := access(state).Runner()
	errs := make([]error, len(b.opts.Checks))
	var wg sync.WaitGroup
	for i, chk := range b.opts.Checks {
		prober, policy, err := health.FromManifest(chk.Health, r)
		if err != nil {
			return halt(state, fmt.Errorf("health check of %s: %w", chk.From, err))
		}
		wg.Go(func() {
			if err := health.Wait(ctx, prober, srv.AccessIP, policy, nil); err != nil {
				errs[i] = fmt.Errorf("health check of %s (%s) on the verification server %s: %w", chk.From, prober, srv.AccessIP, err)
				return
			}
			b.log.Info("verification server healthy", "check", chk.From, "probe", prober.String())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

func (*stepCheckHealth) Cleanup(multistep.StateBag) {}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
