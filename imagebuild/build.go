package imagebuild

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/manifest"
)

// Options configure one build of one family.
type Options struct {
	// Family is the manifest's family (source image, flavor, network, provisioning…).
	Family *manifest.Family
	// Leases gives out the family's lease, held for the whole build. Required.
	Leases Leaser
	// Checks are the health checks a verification server must pass: those of the groups
	// booting from the family. Without any, verification proves the image boots, prints
	// its host keys, accepts SSH logins and runs the recorded packages.
	Checks []Check
	// OnlyIfChanged skips the build when neither the source image, the provisioning nor
	// the upgradable package set changed since the active version.
	OnlyIfChanged bool
	// OnlyIfSecurityUpdates skips the build unless a server booted from the active
	// version finds pending security updates (remint emergency --security). A changed
	// source image or provisioning alone is not a reason then: an out-of-cycle build
	// ships security fixes, not the next planned change. Without an active version the
	// family is built.
	OnlyIfSecurityUpdates bool
	// Reason is why this build runs (remint emergency --reason); it is recorded on the
	// image (remint_build_reason).
	Reason string
	// KeepBuilderOnFailure leaves the builder server (and its keypair) for debugging.
	KeepBuilderOnFailure bool
	// KeepFailed keeps a candidate that failed verification (marked failed) instead of
	// deleting it.
	KeepFailed bool
	// CommandTimeout bounds each provisioning command and script; default 30m.
	CommandTimeout time.Duration
	// SSHTimeout bounds waiting for a server's SSH; default 5m.
	SSHTimeout time.Duration
	// Events, when set, is told when each step starts and ends.
	Events func(Event)
	// Output, when set, receives every remote command's output as it arrives.
	Output io.Writer
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Check is a health check and where it comes from ("group web").
type Check struct {
	From   string
	Health manifest.HealthCheck
}

// Event is a step starting ("start"), ending ("done", "failed") or the build being
// skipped ("skipped").
type Event struct {
	Step     string        `json:"step"`
	Status   string        `json:"status"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Message  string        `json:"message,omitempty"`
}

// StepTiming is how long one step took.
type StepTiming struct {
	Step     string        `json:"step"`
	Status   string        `json:"status"` // done, failed, skipped
	Duration time.Duration `json:"duration_ns"`
}

// Result is what a build did.
type Result struct {
	Family  string `json:"family"`
	BuildID string `json:"build_id"`
	// Status is "active" (built, verified, published), "skipped" or "failed".
	Status     string `json:"status"`
	Version    string `json:"version,omitempty"`
	ImageID    string `json:"image_id,omitempty"`
	SkipReason string `json:"skip_reason,omitempty"`
	// FailedStep and Error say what went wrong; OutputTail is the end of that step's
	// command output.
	FailedStep string   `json:"failed_step,omitempty"`
	Error      string   `json:"error,omitempty"`
	OutputTail []string `json:"output_tail,omitempty"`
	// Kept lists resources left behind on request (--keep-builder-on-failure, --keep-failed).
	Kept []string `json:"kept,omitempty"`
	// Removed lists leftovers of earlier builds that this build deleted.
	Removed []string     `json:"removed_leftovers,omitempty"`
	Steps   []StepTiming `json:"steps"`
	Started time.Time    `json:"started"`
	// Duration is from the start to the image being active (or to the failure).
	Duration time.Duration `json:"duration_ns"`
	// Total includes the cleanup after it (deleting the builder and verification server).
	Total time.Duration `json:"total_ns"`
	// ProvisionTime is the summed run time of the provisioning commands themselves.
	ProvisionTime time.Duration `json:"provision_ns"`
	// Changes are the package changes against the previous active version.
	Changes []debian.Change `json:"changes,omitempty"`
	// SecurityUpdates are the pending security updates the check for changes found on a
	// server booted from the active version (OnlyIfSecurityUpdates).
	SecurityUpdates []debian.Upgrade `json:"security_updates,omitempty"`
	Notes           []string         `json:"notes,omitempty"`
}

// ErrBuildFailed is wrapped by Build's error when a step failed.
var ErrBuildFailed = errors.New("image build failed")

// Metadata keys on the servers and snapshots a build creates.
const (
	MetaBuild  = catalog.PropBuildID // the build id
	MetaFamily = "remint_build_family"
	MetaRole   = "remint_build_role" // builder, verify, probe
)

// pipeline is the image build, in order. Steps that create resources delete them in
// Cleanup unless the build asked to keep them.
func pipeline() []multistep.Step {
	return []multistep.Step{
		&stepRemoveLeftovers{},
		&stepResolveSource{},
		&stepCreateKeypair{},
		&stepCheckChanges{},
		&stepRunServer{role: roleBuilder},
		&stepWaitSSH{role: roleBuilder},
		&stepUpgradePackages{},
		&stepInstallWeave{},
		&stepConfigureUnattended{},
		&stepRunScripts{},
		&stepRecordPackages{},
		&stepCleanImage{},
		&stepStopServer{role: roleBuilder},
		&stepCreateImage{},
		&stepWaitImage{},
		&stepRegisterCandidate{},
		&stepVerifyImage{},
		&stepPublishImage{},
	}
}

// named is a step with a human name for progress and reports.
type named interface {
	multistep.Step
	Name() string
}

// verifyPipeline verifies and publishes an image that was built elsewhere (remint image
// register --verify) and added to the catalog as a candidate.
func verifyPipeline() []multistep.Step {
	return []multistep.Step{
		&stepCreateKeypair{},
		&stepVerifyImage{},
		&stepPublishImage{},
	}
}

// Build runs the pipeline for opts.Family against cloud, publishing to cat, holding the
// family's lease (opts.Leases) throughout. It returns the result also when the build failed (err wraps
// ErrBuildFailed then, and the result names the failed step).
func Build(ctx context.Context, cloud Cloud, cat *catalog.Catalog, opts Options) (Result, error) {
	b, state, err := newBuild(ctx, cloud, cat, opts)
	if err != nil {
		return Result{}, err
	}
	ctx, release, err := b.holdFamily(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()
	b.ctx = ctx
	return b.runSteps(ctx, state, pipeline())
}

// Verify adds an image built elsewhere to the family as a candidate, boots a server from
// it, checks it like a build's verification does (except the package list, which only
// remint's builds record) and, when it passes, publishes it. All of it holds the family's
// lease. A failed candidate is marked failed and kept: it was built elsewhere.
func Verify(ctx context.Context, cloud Cloud, cat *catalog.Catalog, opts Options, imageID string, info catalog.Build) (Result, error) {
	opts.KeepFailed = true
	b, state, err := newBuild(ctx, cloud, cat, opts)
	if err != nil {
		return Result{}, err
	}
	ctx, release, err := b.holdFamily(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()
	b.ctx = ctx
	if a, err := cat.Latest(ctx, opts.Family.Name); err == nil {
		state.Put(keyActive, a)
	}
	e, err := cat.AddCandidate(ctx, opts.Family.Name, imageID, info, opts.Now())
	if err != nil {
		return Result{}, err
	}
	state.Put(keyImageID, e.Image.ID)
	state.Put(keyEntry, e)
	b.res.Version, b.res.ImageID = e.Version.String(), e.Image.ID
	return b.runSteps(ctx, state, verifyPipeline())
}

func newBuild(ctx context.Context, cloud Cloud, cat *catalog.Catalog, opts Options) (*build, multistep.StateBag, error) {
	if opts.Family == nil || opts.Family.Name == "" {
		return nil, nil, errors.New("image build: no family")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 30 * time.Minute
	}
	if opts.SSHTimeout <= 0 {
		opts.SSHTimeout = 5 * time.Minute
	}
	b := &build{opts: opts, cloud: cloud, cat: cat, id: newBuildID(), ctx: ctx, log: opts.Logger}
	b.res = Result{Family: opts.Family.Name, BuildID: b.id, Started: opts.Now().UTC(), Steps: []StepTiming{}}
	b.log = b.log.With("family", opts.Family.Name, "build", b.id)
	state := new(multistep.BasicStateBag)
	state.Put(keyBuild, b)
	return b, state, nil
}

// runSteps runs steps, each timed, then waits for deleted servers to be gone.
func (b *build) runSteps(ctx context.Context, state multistep.StateBag, steps []multistep.Step) (Result, error) {
	wrapped := make([]multistep.Step, len(steps))
	for i, s := range steps {
		wrapped[i] = &timed{step: s.(named)}
	}
	(&multistep.BasicRunner{Steps: wrapped}).Run(ctx, state)
	b.waitDeletes()

	b.res.Total = b.opts.Now().Sub(b.res.Started)
	if b.res.Duration == 0 {
		b.res.Duration = b.res.Total
	}
	if err := stepError(state); err != nil {
		b.res.Status, b.res.Error = "failed", err.Error()
		return b.res, fmt.Errorf("%w: step %q: %w", ErrBuildFailed, b.res.FailedStep, err)
	}
	if _, cancelled := state.GetOk(multistep.StateCancelled); cancelled {
		b.res.Status = "failed"
		b.res.Error = "cancelled: " + context.Cause(ctx).Error()
		return b.res, fmt.Errorf("%w: cancelled during step %q: %w", ErrBuildFailed, b.res.FailedStep, context.Cause(ctx))
	}
	return b.res, nil
}

// build is one run of the pipeline: options, clients, and what it has done so far.
type build struct {
	opts  Options
	cloud Cloud
	cat   *catalog.Catalog
	id    string
	ctx   context.Context // the run's context; cleanups use it without its cancellation
	log   *slog.Logger

	mu      sync.Mutex
	res     Result
	current string     // the step running now
	output  *tailLines // the current step's command output
	failed  bool       // a step failed: cleanups keep what was asked to be kept
	deletes []string   // servers deleted; Build waits for them to be gone at the end
	skipped bool       // the build was skipped (only if changed)
	publish bool       // the image was published: nothing of it is deleted
}

// waitDeletes waits until the servers whose deletion was requested are gone.
func (b *build) waitDeletes() {
	ctx, cancel := b.cleanupCtx()
	defer cancel()
	for _, id := range b.deletes {
		if err := b.cloud.WaitServerDeleted(ctx, id); err != nil {
			b.note("server %s was not deleted: %v (the next build removes it)", id, err)
			continue
		}
		b.log.Info("server deleted", "server", id)
	}
}

func newBuildID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// name is the base of every resource name of this build: remint-build-<family>-<id>.
func (b *build) name() string { return "remint-build-" + b.opts.Family.Name + "-" + b.id }

// cleanupCtx is for Cleanup methods: not cancelled with the run, but bounded.
func (b *build) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Minute)
}

func (b *build) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.mu.Lock()
	b.res.Notes = append(b.res.Notes, msg)
	b.mu.Unlock()
	b.log.Info(msg)
}

func (b *build) kept(what string) {
	b.mu.Lock()
	b.res.Kept = append(b.res.Kept, what)
	b.mu.Unlock()
	b.log.Warn("kept on request", "resource", what)
}

func (b *build) emit(e Event) {
	if b.opts.Events != nil {
		b.opts.Events(e)
	}
}

// tagMetadata is the metadata every server of this build carries.
func (b *build) tagMetadata(role string) map[string]string {
	return map[string]string{MetaBuild: b.id, MetaFamily: b.opts.Family.Name, MetaRole: role}
}

// provisionDigest digests the family's provisioning, so a changed manifest means a build.
func provisionDigest(f *manifest.Family) string {
	raw, _ := json.Marshal(f.Provision)
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// timed runs a step, timing it, telling Events, and naming the step when it fails.
type timed struct {
	step  named
	start time.Time
}

func (t *timed) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	b := buildOf(state)
	name := t.step.Name()
	b.mu.Lock()
	b.current, b.output = name, newTailLines(40)
	b.mu.Unlock()
	t.start = b.opts.Now()
	b.emit(Event{Step: name, Status: "start"})
	action := t.step.Run(ctx, state)
	d := b.opts.Now().Sub(t.start)
	status := "done"
	var msg string
	switch {
	case stepError(state) != nil:
		status, msg = "failed", stepError(state).Error()
		b.mu.Lock()
		b.res.Duration = b.opts.Now().Sub(b.res.Started)
		b.failed = true
		b.res.FailedStep = name
		b.res.OutputTail = b.output.lines()
		b.mu.Unlock()
	case b.skipped:
		status, msg = "skipped", b.res.SkipReason
	case ctx.Err() != nil:
		status, msg = "failed", "cancelled"
		b.mu.Lock()
		b.failed = true
		b.res.FailedStep = name
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.res.Steps = append(b.res.Steps, StepTiming{Step: name, Status: status, Duration: d})
	b.mu.Unlock()
	b.emit(Event{Step: name, Status: status, Duration: d, Message: msg})
	return action
}

func (t *timed) Cleanup(state multistep.StateBag) { t.step.Cleanup(state) }

// halt records err as the build's error and stops the pipeline.
func halt(state multistep.StateBag, err error) multistep.StepAction {
	state.Put(keyError, err)
	return multistep.ActionHalt
}

// tailLines keeps the last n lines written.
type tailLines struct {
	mu      sync.Mutex
	n       int
	buf     []string
	partial string
}

func newTailLines(n int) *tailLines { return &tailLines{n: n} }

func (t *tailLines) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.partial + string(p)
	parts := strings.Split(s, "\n")
	t.partial = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		t.buf = append(t.buf, strings.TrimRight(l, "\r"))
		if len(t.buf) > t.n {
			t.buf = t.buf[len(t.buf)-t.n:]
		}
	}
	return len(p), nil
}

func (t *tailLines) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.buf...)
	if t.partial != "" {
		out = append(out, t.partial)
	}
	return out
}
