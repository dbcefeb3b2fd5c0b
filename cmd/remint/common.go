package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/remote"
	"github.com/remint-dev/remint/internal/store"
)

// manifestFlag adds -f/--file to cmd, defaulting to $REMINT_MANIFEST or remint.yaml.
func manifestFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVarP(file, "file", "f", manifest.DefaultPath(), "manifest ($"+manifest.EnvPath+" sets the default)")
}

// outputFlag adds -o/--output with the allowed values.
func outputFlag(cmd *cobra.Command, out *string, allowed ...string) {
	cmd.Flags().StringVarP(out, "output", "o", allowed[0], "output format: "+strings.Join(allowed, " or "))
}

func checkOutput(out string, allowed ...string) error {
	for _, a := range allowed {
		if out == a {
			return nil
		}
	}
	return usageErrorf("--output %q: want %s", out, strings.Join(allowed, " or "))
}

// loadManifest loads and validates the manifest; problems are usage errors (exit 2).
func loadManifest(file string) (*manifest.Manifest, error) {
	m, err := manifest.Load(file)
	var problems manifest.Errors
	switch {
	case err == nil:
		return m, nil
	case errors.As(err, &problems):
		// Each problem already names the file, line and field: one per line, unprefixed.
		return nil, usageError{err}
	case errors.Is(err, fs.ErrNotExist):
		return nil, usageErrorf("manifest %s not found: give one with -f FILE or $%s (examples/remint.yaml is a start)", file, manifest.EnvPath)
	default:
		return nil, usageError{fmt.Errorf("manifest %s: %w", file, err)}
	}
}

// checkTargetFlags checks --image and --strategy before anything is contacted.
func checkTargetFlags(image, strategy string) error {
	if image != "" && image != "latest" {
		if _, err := catalog.ParseVersion(image); err != nil {
			return usageErrorf("--image %q: want latest or a version YYYY.MM.N", image)
		}
	}
	if strategy != "" && strategy != failover.StrategyRolling && strategy != failover.StrategyBlueGreen {
		return usageErrorf("--strategy %q: want %s or %s", strategy, failover.StrategyRolling, failover.StrategyBlueGreen)
	}
	return nil
}

// groupSpec finds a group of the manifest and turns it into a failover spec.
func groupSpec(m *manifest.Manifest, name string) (failover.Spec, error) {
	g, ok := m.Groups[name]
	if !ok {
		return failover.Spec{}, usageErrorf("group %q is not in %s (groups: %s)", name, m.Path, strings.Join(m.GroupNames(), ", "))
	}
	s, err := failover.SpecFromGroup(g)
	if err != nil {
		return s, usageError{err}
	}
	return s, nil
}

// connectCloud connects to the manifest's cloud (OS_CLOUD overrides it).
func connectCloud(ctx context.Context, m *manifest.Manifest, log *slog.Logger) (*openstack.Client, error) {
	cloud := m.Cloud
	if env := os.Getenv("OS_CLOUD"); env != "" {
		cloud = env
	}
	cl, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: cloud, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("connect to cloud %q: %w", cloud, err)
	}
	return cl, nil
}

// openStore opens the manifest's state store: a SQLite file, or PostgreSQL when state is
// a postgres:// URL.
func openStore(ctx context.Context, m *manifest.Manifest) (*store.Store, error) {
	if m.StateIsPostgres() {
		return store.Open(ctx, m.State)
	}
	path := m.StatePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create state directory for %s: %w", path, err)
	}
	return store.Open(ctx, path)
}

// groupEnv is everything a group command works with.
type groupEnv struct {
	m     *manifest.Manifest
	spec  failover.Spec
	cloud *openstack.Client
	store *store.Store
	log   *slog.Logger
}

func (g *groupEnv) Close() {
	if g.store != nil {
		g.store.Close()
	}
}

// openGroup loads the manifest, finds the group, connects and opens the store.
func openGroup(ctx context.Context, file, group string, stderr io.Writer) (*groupEnv, error) {
	return openGroupFor(ctx, file, group, stderr, false)
}

// openGroupFor is openGroup; records says the command only records or reads the group's
// servers (adopt, show), so pets (replaceable: false) are welcome.
func openGroupFor(ctx context.Context, file, group string, stderr io.Writer, records bool) (*groupEnv, error) {
	log, err := newLogger(stderr)
	if err != nil {
		return nil, err
	}
	m, err := loadManifest(file)
	if err != nil {
		return nil, err
	}
	spec, err := groupSpec(m, group)
	if records && err != nil && m.Groups[group] != nil && !m.Groups[group].IsReplaceable() {
		spec, err = failover.RecordSpec(m.Groups[group])
		if err != nil {
			err = usageError{err}
		}
	}
	if err != nil {
		return nil, err
	}
	cl, err := connectCloud(ctx, m, log)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, m)
	if err != nil {
		return nil, err
	}
	return &groupEnv{m: m, spec: spec, cloud: cl, store: st, log: log}, nil
}

// executor builds the failover executor for the group, sending events to sink.
func (g *groupEnv) executor(sink func(failover.Event)) (*failover.Executor, error) {
	return g.executorWith(sink, nil)
}

// executorWith is executor with an ephemeral progress sink (live terminals).
func (g *groupEnv) executorWith(sink, progress func(failover.Event)) (*failover.Executor, error) {
	o, err := g.options(sink, progress)
	if err != nil {
		return nil, err
	}
	return failover.NewExecutor(o)
}

// options wires the failover executor of the group: cloud, store, probes and sinks.
func (g *groupEnv) options(sink, progress func(failover.Event)) (failover.Options, error) {
	var runner health.Runner
	if g.spec.Health.Check.Command != "" {
		r, err := g.sshRunner()
		if err != nil {
			return failover.Options{}, err
		}
		runner = r
	}
	prober, policy, gate, err := failover.ProbesWith(g.spec, failover.ProbeDeps{Runner: runner, Cloud: g.cloud})
	if err != nil {
		return failover.Options{}, usageError{err}
	}
	return failover.Options{
		Cloud: g.cloud, Store: g.store, Spec: g.spec,
		Prober: prober, Policy: policy, Gate: gate,
		Events: sink, Progress: progress, Logger: g.log,
	}, nil
}

// sshRunner logs in to the group's servers for command health checks: as the group's
// ssh_user, with the private key in $REMINT_SSH_KEY, each server's host key verified
// against the keys it printed to its console at first boot (see internal/remote).
func (g *groupEnv) sshRunner() (*remote.Runner, error) {
	signer, err := remote.LoadSigner("")
	switch {
	case errors.Is(err, remote.ErrNoPrivateKey):
		return nil, usageErrorf("group %s: its command health check logs in over SSH: set %s to the private key of keypair %q",
			g.spec.Group, remote.EnvPrivateKey, g.m.Groups[g.spec.Group].KeyName)
	case err != nil:
		return nil, usageErrorf("group %s: %v", g.spec.Group, err)
	}
	user := g.m.Groups[g.spec.Group].SSHUser
	if user == "" {
		user = "debian"
	}
	access := &remote.Access{Cloud: g.cloud, User: user, Signer: signer, Logger: g.log,
		Servers: openstack.ListServersOpts{NamePrefix: g.spec.Group + "-"}}
	return access.Runner(), nil
}

// eventPrinter prints failover events: NDJSON for --output json, one line per event
// when stdout is not a terminal, and a live block of one line per slot on a terminal.
//
// An error is printed once: a slot's error appears in its event, so the summary line of
// that slot leaves it out, and the command's final error (shown) only names the rollout.
type eventPrinter struct {
	mu     sync.Mutex
	w      io.Writer
	json   bool
	live   bool
	slots  map[int]failover.Event
	last   failover.Event
	drawn  int
	failed map[int][]string // text mode: messages of failed slot events already printed
}

func newEventPrinter(w io.Writer, output string) *eventPrinter {
	p := &eventPrinter{w: w, json: output == "json", slots: map[int]failover.Event{}, failed: map[int][]string{}}
	if f, ok := w.(*os.File); ok && !p.json && os.Getenv("TERM") != "dumb" {
		p.live = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return p
}

// progress is the sink for ephemeral progress: shown only in the live view.
func (p *eventPrinter) progress() func(failover.Event) {
	if !p.live {
		return nil
	}
	return p.Event
}

func (p *eventPrinter) Event(e failover.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.json:
		b, _ := json.Marshal(struct {
			Type string `json:"type"`
			failover.Event
		}{"event", e})
		fmt.Fprintf(p.w, "%s\n", b)
	case !p.live:
		fmt.Fprintln(p.w, e.String())
		if e.Failed && e.Slot >= 0 {
			p.failed[e.Slot] = append(p.failed[e.Slot], e.Message)
		}
	default:
		if e.Slot < 0 {
			p.last = e
		} else {
			p.slots[e.Slot] = e
		}
		p.redraw()
	}
}

// redraw rewrites the live block: one line per slot, then the latest rollout message.
func (p *eventPrinter) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	keys := make([]int, 0, len(p.slots))
	for k := range p.slots {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	n := 0
	for _, k := range keys {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", p.slots[k].String())
		n++
	}
	if p.last.Step != "" {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", p.last.String())
		n++
	}
	p.drawn = n
}

// summary prints the final result (a JSON object with "type":"summary" in json mode).
func (p *eventPrinter) summary(res failover.Result, runErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		out := struct {
			Type string `json:"type"`
			failover.Result
		}{"summary", res}
		if runErr != nil && out.Error == "" {
			out.Error = runErr.Error()
		}
		b, _ := json.Marshal(out)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	fmt.Fprintf(p.w, "rollout %s of group %s to %s: %s in %s\n", res.Rollout, res.Group, res.Target.Version, orStatus(res.Status), res.Duration.Round(time.Millisecond))
	for _, s := range res.Slots {
		line := fmt.Sprintf("  slot %s-%d: %s", res.Group, s.Slot, s.State)
		if s.OldServerID != "" {
			line += fmt.Sprintf(", old %s (%s)", short(s.OldServerID), s.OldImageVersion)
		}
		if s.NewServerID != "" {
			line += fmt.Sprintf(", new %s", short(s.NewServerID))
		}
		if s.Address != "" {
			line += ", address " + s.Address
		}
		switch {
		case s.Error == "":
		case p.printed(s.Slot, s.Error):
			line += " (error above)"
		default:
			line += ": " + s.Error
		}
		fmt.Fprintln(p.w, line)
	}
}

// printed reports whether msg is on screen already for slot: in an event printed
// earlier, or (live) in the slot's line of the live block.
func (p *eventPrinter) printed(slot int, msg string) bool {
	if p.live {
		e, ok := p.slots[slot]
		return ok && strings.Contains(e.Message, msg)
	}
	for _, m := range p.failed[slot] {
		if strings.Contains(m, msg) {
			return true
		}
	}
	return false
}

// shown is the error a command returns after summary printed err in text mode: it
// reads "rollout … failed (see above)" so main does not print every slot's error
// again, and unwraps to err for errors.Is and exit codes. JSON output, and errors
// not about a rollout's slots, are returned unchanged.
func (p *eventPrinter) shown(res failover.Result, err error) error {
	if err == nil || p.json || res.Rollout == "" || res.Status != store.RolloutFailed {
		return err
	}
	return shownError{msg: fmt.Sprintf("rollout %s of group %s failed (the errors are above)", res.Rollout, res.Group), err: err}
}

// shownError is an error whose details were printed already.
type shownError struct {
	msg string
	err error
}

func (e shownError) Error() string { return e.msg }
func (e shownError) Unwrap() error { return e.err }

func orStatus(s string) string {
	if s == "" {
		return "stopped"
	}
	return s
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

var errRolloutFailed = errors.New("rollout failed")
