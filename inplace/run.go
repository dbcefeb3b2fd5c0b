package inplace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// Journal records runs and each server's progress; *store.Store implements it.
type Journal interface {
	CreateInplaceRun(ctx context.Context, r store.InplaceRun, servers []store.InplaceServer) error
	PutInplaceServer(ctx context.Context, sv store.InplaceServer) error
	SetInplaceRunStatus(ctx context.Context, id, status, errMsg string, now time.Time) error
}

// Deps are what a run works with.
type Deps struct {
	Dialer   Dialer
	Rebooter Rebooter
	Health   Health
	Journal  Journal
	// WeaveScript is the verified launch script (FetchScript), when Options.Weave.
	WeaveScript []byte
	Now         func() time.Time
	Logger      *slog.Logger
	// Progress, when set, is told each server's result whenever it changes.
	Progress func(ServerResult)
	// Deadline, when set, is the end of the maintenance window: no server starts at or
	// after it (servers under way finish, and so do those a resumed run had under way
	// when it was cut short: an upgrade or reboot is not left half done); the run ends
	// failed with ErrDeadline, naming the servers left.
	Deadline time.Time
}

// Plan is one run: its id, the group, the servers in order and the options.
type Plan struct {
	ID      string
	Group   string
	Servers []Server
	Options Options
	// Resume continues the recorded run ID: servers in Done are not touched again.
	Resume bool
	Done   map[string]ServerResult // by server id
}

// Summary is a run's outcome.
type Summary struct {
	Run        string         `json:"run"`
	Group      string         `json:"group"`
	Status     string         `json:"status"` // succeeded, failed, planned (--dry-run)
	DryRun     bool           `json:"dry_run"`
	Options    Options        `json:"options"`
	Servers    []ServerResult `json:"servers"`
	Succeeded  int            `json:"succeeded"`
	Failed     int            `json:"failed"`
	NotStarted int            `json:"not_started"`
	Duration   time.Duration  `json:"duration_ns"`
	Error      string         `json:"error,omitempty"`
}

// ErrFailed is returned (wrapped) when a run ran and some server failed.
var ErrFailed = errors.New("in-place run failed")

// ErrDeadline is returned (wrapped, with ErrFailed) when the maintenance window closed
// before every server was patched.
var ErrDeadline = errors.New("maintenance window closed")

// windowError is a run stopped at its deadline: both ErrFailed and ErrDeadline.
type windowError struct{ msg string }

func (e windowError) Error() string   { return e.msg }
func (e windowError) Unwrap() []error { return []error{ErrFailed, ErrDeadline} }

type patcher struct {
	o           Options
	dialer      Dialer
	rebooter    Rebooter
	health      Health
	weaveScript []byte
	now         func() time.Time
	log         *slog.Logger
}

// Run patches the plan's servers, rolling with the options' concurrency and error
// budget, recording every server's progress in the journal before each phase.
func Run(ctx context.Context, d Deps, plan Plan) (Summary, error) {
	o := plan.Options.withDefaults()
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &patcher{o: o, dialer: d.Dialer, rebooter: d.Rebooter, health: d.Health, weaveScript: d.WeaveScript, now: now, log: log}
	start := now()
	sum := Summary{Run: plan.ID, Group: plan.Group, DryRun: o.DryRun, Options: o, Servers: make([]ServerResult, len(plan.Servers))}
	for i, s := range plan.Servers {
		sum.Servers[i] = ServerResult{Server: s, Status: StatusPending}
		if r, ok := plan.Done[s.ID]; ok && r.Status == StatusSucceeded {
			sum.Servers[i] = r
		}
	}
	journal := d.Journal
	if o.DryRun {
		journal = nil // a dry run changes nothing, the state included
	}
	put := func(r ServerResult, seq int) {
		if d.Progress != nil {
			d.Progress(r)
		}
		if journal == nil {
			return
		}
		b, _ := json.Marshal(r)
		// Recording uses a context that outlives cancellation: a killed run's last
		// state must reach the journal.
		if err := journal.PutInplaceServer(context.WithoutCancel(ctx), store.InplaceServer{RunID: plan.ID, ServerID: r.Server.ID, ServerName: r.Server.Name,
			Seq: seq, Phase: r.Phase, Status: r.Status, Result: b, Error: r.Error, Updated: now()}); err != nil {
			log.Error("record in-place progress", "server", r.Server.Name, "err", err)
		}
	}
	if journal != nil {
		if plan.Resume {
			if err := journal.SetInplaceRunStatus(ctx, plan.ID, store.InplaceRunning, "", now()); err != nil {
				return sum, err
			}
		} else {
			opts, _ := json.Marshal(o)
			rows := make([]store.InplaceServer, len(plan.Servers))
			for i, s := range plan.Servers {
				rows[i] = store.InplaceServer{ServerID: s.ID, ServerName: s.Name, Seq: i, Status: StatusPending, Updated: now()}
			}
			if err := journal.CreateInplaceRun(ctx, store.InplaceRun{ID: plan.ID, Group: plan.Group, Options: opts, Status: store.InplaceRunning, Created: now(), Updated: now()}, rows); err != nil {
				return sum, err
			}
		}
	}

	roll := NewRoll(len(plan.Servers), o.Concurrency, o.MaxErrors)
	type finished struct {
		i   int
		res ServerResult
	}
	done := make(chan finished)
	// Servers the run being resumed had under way when it was cut short: they finish
	// even past the deadline.
	underway := map[int]bool{}
	if plan.Resume {
		for i, s := range plan.Servers {
			if r, ok := plan.Done[s.ID]; ok && r.Status == StatusRunning {
				underway[i] = true
			}
		}
	}
	windowClosed := false
	for !roll.Done() {
		for !windowClosed || len(underway) > 0 {
			// Servers that succeeded in the run being resumed are passed over.
			for roll.Peek() < len(plan.Servers) && sum.Servers[roll.Peek()].Status == StatusSucceeded {
				roll.Skip()
			}
			if roll.Peek() < len(plan.Servers) && !d.Deadline.IsZero() && !now().Before(d.Deadline) {
				windowClosed = true // no next server; those under way finish
				if len(underway) == 0 {
					break
				}
				if !underway[roll.Peek()] {
					roll.Pass() // not started: left for the next run
					continue
				}
			}
			i, ok := roll.Next()
			if !ok {
				break
			}
			delete(underway, i)
			s := plan.Servers[i]
			go func() {
				done <- finished{i, p.patch(ctx, s, func(r ServerResult) { put(r, i) })}
			}()
		}
		if roll.Running() == 0 {
			break
		}
		f := <-done
		sum.Servers[f.i] = f.res
		roll.Finish(f.res.Status == StatusSucceeded || f.res.Status == StatusPlanned)
	}
	for i := range sum.Servers {
		switch sum.Servers[i].Status {
		case StatusSucceeded, StatusPlanned:
			sum.Succeeded++
		case StatusFailed:
			sum.Failed++
		default:
			sum.Servers[i].Status = StatusNotStarted
			sum.NotStarted++
			put(sum.Servers[i], i)
		}
	}
	sum.Duration = now().Sub(start)
	sum.Status = store.InplaceSucceeded
	if o.DryRun {
		sum.Status = StatusPlanned
	}
	var err error
	if sum.Failed > 0 || sum.NotStarted > 0 || ctx.Err() != nil {
		sum.Status = store.InplaceFailed
		sum.Error = fmt.Sprintf("%d of %d servers failed, %d not started", sum.Failed, len(sum.Servers), sum.NotStarted)
		if roll.Exhausted() && sum.NotStarted > 0 {
			sum.Error += fmt.Sprintf(" (error budget %s spent)", o.MaxErrors)
		}
		if ctx.Err() != nil {
			sum.Error += ": " + ctx.Err().Error()
		}
		err = fmt.Errorf("%w: %s", ErrFailed, sum.Error)
		if windowClosed {
			var left []string
			for _, r := range sum.Servers {
				if r.Status != StatusSucceeded && r.Status != StatusPlanned {
					left = append(left, r.Server.Name)
				}
			}
			sum.Error = fmt.Sprintf("%s at %s: %d of %d servers patched; left: %s", ErrDeadline, d.Deadline.UTC().Format(time.RFC3339),
				sum.Succeeded, len(sum.Servers), strings.Join(left, ", "))
			err = windowError{ErrFailed.Error() + ": " + sum.Error}
		}
	}
	if journal != nil {
		if jerr := journal.SetInplaceRunStatus(context.WithoutCancel(ctx), plan.ID, sum.Status, sum.Error, now()); jerr != nil && err == nil {
			err = jerr
		}
	}
	return sum, err
}

// patch runs one server through its phases; put records its progress.
func (p *patcher) patch(ctx context.Context, s Server, put func(ServerResult)) (res ServerResult) {
	res = ServerResult{Server: s, Status: StatusRunning, Started: p.now()}
	enter := func(phase string) {
		res.Phase = phase
		put(res)
	}
	fail := func(err error) ServerResult {
		res.Status, res.Error = StatusFailed, err.Error()
		res.Duration = p.now().Sub(res.Started)
		p.log.Warn("in-place upgrade failed", "server", s.Name, "phase", res.Phase, "err", err)
		put(res)
		return res
	}
	enter(PhaseConnect)
	c, err := p.dialer.Dial(ctx, s)
	if err != nil {
		return fail(fmt.Errorf("connect to %s (%s): %w", s.Name, s.Addr, err))
	}
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	enter(PhasePreflight)
	if err := preflight(ctx, c, p.o, p.now); err != nil {
		return fail(err)
	}
	if p.o.Security {
		enter(PhaseSecurity)
		sec, err := security(ctx, c, p.o)
		res.Security = sec
		if err != nil {
			return fail(err)
		}
	}
	if p.o.Docker {
		enter(PhaseDocker)
		res.Docker, c, err = p.docker(ctx, c, s)
		if err != nil {
			return fail(err)
		}
	}
	if p.o.Weave {
		enter(PhaseWeave)
		res.Weave, err = p.weave(ctx, c, s)
		if err != nil {
			return fail(err)
		}
	}
	enter(PhaseReboot)
	res.Reboot, c, err = p.reboot(ctx, c, s)
	if err != nil {
		return fail(err)
	}
	res.Phase, res.Status = PhaseDone, StatusSucceeded
	if p.o.DryRun {
		res.Status = StatusPlanned
	}
	res.Duration = p.now().Sub(res.Started)
	put(res)
	return res
}

// DecodeServerResult reads a recorded server result (for --resume and reports).
func DecodeServerResult(sv store.InplaceServer) ServerResult {
	var r ServerResult
	if len(sv.Result) > 0 {
		_ = json.Unmarshal(sv.Result, &r)
	}
	if r.Server.ID == "" {
		r.Server = Server{ID: sv.ServerID, Name: sv.ServerName}
	}
	r.Status, r.Phase, r.Error = sv.Status, sv.Phase, sv.Error
	return r
}
