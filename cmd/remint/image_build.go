package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/orchestrator"
)

func init() { imageSubcommands = append(imageSubcommands, newImageBuildCmd) }

type imageBuildOptions struct {
	imageOptions
	onlyIfChanged        bool
	keepBuilderOnFailure bool
	keepFailed           bool
	sshTimeout           time.Duration
	waitLock             time.Duration
}

func newImageBuildCmd() *cobra.Command {
	var o imageBuildOptions
	cmd := &cobra.Command{
		Use:   "build FAMILY [--only-if-changed] [--keep-builder-on-failure] [--keep-failed]",
		Short: "Build, verify and publish a fresh, fully patched image of a family",
		Long: `Build a new version of FAMILY: boot a builder from the family's source image with a
temporary keypair, wait for SSH (host key verified from the console), upgrade every package,
install the family's packages, Docker and Weave at their pinned versions, configure
unattended-upgrades for daily security updates, run the family's scripts, record the package
list, clean the machine (machine-id, host keys, cloud-init state, apt lists, logs, history),
stop it and snapshot it. The snapshot is a candidate until a server booted from it passes
verification (SSH with fresh host keys, the recorded packages, and the health checks of the
groups booting from the family); then it becomes active, the previous active version is
deprecated and retention runs (an image a server uses is never deleted).

The build holds the family's lease: a second build of the same family is refused. Anything
a build creates is deleted when it ends, failed or not (--keep-builder-on-failure and
--keep-failed keep the builder or a failed candidate for debugging); leftovers of a build
that was killed are removed by the next build.

--only-if-changed (or build_only_on_change: true in the family) skips the build when the
source image and the provisioning are the same as the active version's and a server booted
from the active version finds no upgradable package; the skip and its reason are recorded
on the active image. Exit status: 0 built or skipped, 1 the build failed, 2 bad input.

With --server URL the daemon builds it: a build-image job is queued (POST
/v1/images/FAMILY/build, with --only-if-changed, --keep-builder-on-failure, --keep-failed
and --ssh-timeout) and its events are printed as the daemon records them until it ends
(as remint rebuild --server does); the exit status is the same. The daemon's job waits
for the family's lease by itself (--wait-lock is refused with --server).`,
		Example: `  remint image build debian-12 -f examples/remint.yaml
  remint image build debian-12 --only-if-changed --output json
  remint image build debian-12 --only-if-changed --server http://127.0.0.1:8440`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.sshTimeout <= 0 {
				return usageErrorf("--ssh-timeout %s: want a positive duration", o.sshTimeout)
			}
			return runImageBuild(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	imageFlags(cmd, &o.imageOptions)
	f := cmd.Flags()
	f.BoolVar(&o.onlyIfChanged, "only-if-changed", false, "skip the build when nothing changed since the active version")
	f.BoolVar(&o.keepBuilderOnFailure, "keep-builder-on-failure", false, "leave the builder server and its keypair when the build fails")
	f.BoolVar(&o.keepFailed, "keep-failed", false, "keep a candidate that failed verification (marked failed) instead of deleting it")
	f.DurationVar(&o.sshTimeout, "ssh-timeout", 5*time.Minute, "how long to wait for a server's SSH")
	f.DurationVar(&o.waitLock, "wait-lock", 0, "wait this long for the family's lease when another build holds it (default: refuse at once)")
	serverFlag(cmd, &o.client)
	return cmd
}

// runImageBuildOnServer queues a build-image job on the daemon and follows it.
func runImageBuildOnServer(ctx context.Context, stdout io.Writer, family string, o imageBuildOptions) error {
	if err := checkOutput(o.output, "text", "json"); err != nil {
		return err
	}
	if o.waitLock != 0 {
		return localOnlyf("--wait-lock and --server: the daemon's build job waits for the family's lease by itself")
	}
	c, err := o.client.client()
	if err != nil {
		return err
	}
	j, err := c.BuildImage(ctx, family, orchestrator.BuildImageOptions{OnlyIfChanged: o.onlyIfChanged,
		KeepBuilderOnFailure: o.keepBuilderOnFailure, KeepFailed: o.keepFailed,
		SSHTimeoutSeconds: int((o.sshTimeout + time.Second - 1) / time.Second)})
	if err != nil {
		return serverError(err)
	}
	return followJob(ctx, c, j, stdout, o.output)
}

// familyChecks returns the family's own health check, if it has one, and those of the
// groups that boot from it.
func familyChecks(m *manifest.Manifest, family string) []imagebuild.Check {
	var checks []imagebuild.Check
	if f := m.Families[family]; f != nil && f.Health != nil {
		checks = append(checks, imagebuild.Check{From: "family " + family, Health: *f.Health})
	}
	for _, name := range m.GroupNames() {
		g := m.Groups[name]
		// A cloud check is left out: the verification server is already known ACTIVE.
		if g.Image.Family != family || (g.Health.HTTP == nil && g.Health.TCP == nil && g.Health.Command == "") {
			continue
		}
		checks = append(checks, imagebuild.Check{From: "group " + name, Health: g.Health})
	}
	return checks
}

func runImageBuild(ctx context.Context, stdout, stderr io.Writer, family string, o imageBuildOptions) error {
	if o.client.server != "" {
		return runImageBuildOnServer(ctx, stdout, family, o)
	}
	env, err := openImages(ctx, o.imageOptions, stderr, family)
	if err != nil {
		return err
	}
	fam := env.m.Families[family]
	leases, done, err := familyLeases(ctx, env, "remint image build "+family, o.waitLock)
	if err != nil {
		return err
	}
	defer done()
	p := newBuildPrinter(stdout, o.output)
	res, err := imagebuild.Build(ctx, env.cloud, env.cat, imagebuild.Options{
		Family:               fam,
		Leases:               leases,
		Checks:               familyChecks(env.m, family),
		OnlyIfChanged:        o.onlyIfChanged || fam.BuildOnlyOnChange,
		KeepBuilderOnFailure: o.keepBuilderOnFailure,
		KeepFailed:           o.keepFailed,
		SSHTimeout:           o.sshTimeout,
		Events:               p.event,
		Logger:               env.log,
		Now:                  o.time,
	})
	if res.BuildID == "" {
		return leaseHeld(err)
	}
	p.summary(res)
	if errors.Is(err, imagebuild.ErrBuildFailed) {
		// The summary above has the details; the error line stays short.
		return fmt.Errorf("image build %s of %s failed at step %q", res.BuildID, family, res.FailedStep)
	}
	return err
}

// buildPrinter prints a build's progress: one line per finished step when stdout is not a
// terminal, a line rewritten from "…" to its result on a terminal, NDJSON with --output json.
type buildPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	live bool
	n    int
}

func newBuildPrinter(w io.Writer, output string) *buildPrinter {
	p := &buildPrinter{w: w, json: output == "json"}
	if f, ok := w.(*os.File); ok && !p.json && os.Getenv("TERM") != "dumb" {
		p.live = isatty.IsTerminal(f.Fd())
	}
	return p
}

func (p *buildPrinter) event(e imagebuild.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(struct {
			Type string `json:"type"`
			imagebuild.Event
		}{"event", e})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	if e.Status == "start" {
		p.n++
		if p.live {
			fmt.Fprintf(p.w, "\x1b[2K  … %-32s\r", e.Step)
		}
		return
	}
	mark := map[string]string{"done": "ok", "failed": "FAILED", "skipped": "skipped"}[e.Status]
	line := fmt.Sprintf("step %2d %-32s %-7s %6.1fs", p.n, e.Step, mark, e.Duration.Seconds())
	if e.Status != "done" && e.Message != "" {
		line += "  " + firstLine(e.Message)
	}
	if p.live {
		line = "\x1b[2K" + line
	}
	fmt.Fprintln(p.w, line)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (p *buildPrinter) summary(r imagebuild.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(struct {
			Type string `json:"type"`
			imagebuild.Result
		}{"summary", r})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	w := p.w
	switch r.Status {
	case "active":
		fmt.Fprintf(w, "build %s of %s: %s %s is active (image %s), %s from start to active\n",
			r.BuildID, r.Family, r.Family, r.Version, r.ImageID, r.Duration.Round(100*time.Millisecond))
		if r.ProvisionTime > 0 {
			fmt.Fprintf(w, "  provisioning commands ran %s of it; pipeline overhead %s (%.0f%%)\n",
				r.ProvisionTime.Round(100*time.Millisecond), (r.Duration - r.ProvisionTime).Round(100*time.Millisecond),
				100*float64(r.Duration-r.ProvisionTime)/float64(max(r.ProvisionTime, 1)))
		}
		for _, c := range r.Changes {
			fmt.Fprintf(w, "  %s\n", formatChange(c))
		}
	case "skipped":
		fmt.Fprintf(w, "build %s of %s skipped: %s\n", r.BuildID, r.Family, r.SkipReason)
	default:
		fmt.Fprintf(w, "build %s of %s FAILED at step %q after %s: %s\n", r.BuildID, r.Family, r.FailedStep, r.Duration.Round(100*time.Millisecond), r.Error)
		if len(r.OutputTail) > 0 {
			fmt.Fprintf(w, "  last output of %q:\n", r.FailedStep)
			for _, l := range r.OutputTail[max(0, len(r.OutputTail)-15):] {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for _, x := range r.Removed {
		fmt.Fprintf(w, "  removed leftover: %s\n", x)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	switch {
	case len(r.Kept) > 0:
		for _, k := range r.Kept {
			fmt.Fprintf(w, "  kept on request: %s\n", k)
		}
	case r.Status == "failed":
		fmt.Fprintln(w, "  nothing was left behind (builder, verification server, keypair and image deleted)")
	}
}
