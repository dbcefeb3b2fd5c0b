// Package lease makes one process at a time the changer of a group (or, later, of an
// image family). Before a command changes a group it takes the group's lease in the
// state store; while it runs the lease is renewed every TTL/3; when it ends the lease is
// released; when its holder dies (kill -9, a lost host) the lease expires within the TTL
// and the next command may take it over. A second command is refused at once with who
// holds the lease and since when, or waits for it up to Manager.Wait.
//
// The store behind it is a small interface (Store): the SQLite state store's leases
// table today; a PostgreSQL row lease or an advisory lock fits behind the same three
// calls later.
//
// Entry point: Manager.Acquire; keys come from GroupKey and FamilyKey.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/store"
)

// DefaultTTL is how long a lease lives without renewal: a killed holder's lease expires
// within it.
const DefaultTTL = 30 * time.Second

// EnvTTL names the environment variable that overrides DefaultTTL (a Go duration such
// as "2s"): for tests that kill a holder and wait for its lease to expire.
const EnvTTL = "REMINT_LEASE_TTL"

// TTLFromEnv returns $REMINT_LEASE_TTL, or DefaultTTL when it is unset.
func TTLFromEnv() (time.Duration, error) {
	v := os.Getenv(EnvTTL)
	if v == "" {
		return DefaultTTL, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond {
		return 0, fmt.Errorf("$%s %q: want a duration of at least 100ms, such as 30s", EnvTTL, v)
	}
	return d, nil
}

// GroupKey is the lease key of a server group: every command that changes the group
// (rebuild, resume, rollback, adopt, in-place) takes it.
func GroupKey(group string) string { return "group/" + group }

// FamilyKey is the lease key of an image family: image builds take it.
func FamilyKey(family string) string { return "family/" + family }

// Describe names what a key guards, for messages: "group web", "image family debian-12".
func Describe(key string) string {
	kind, name, ok := strings.Cut(key, "/")
	switch {
	case !ok:
		return key
	case kind == "family":
		return "image family " + name
	default:
		return kind + " " + name
	}
}

// Self describes this process as a lease holder: host name, pid, the command line given
// and when the process started.
func Self(command string, started time.Time) store.LeaseHolder {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return store.LeaseHolder{Host: host, PID: os.Getpid(), Command: command, Started: started}
}

type jobKey struct{}

// WithJob marks ctx as the work of durable job id: a lease taken in it names the job
// (store.LeaseHolder.Job), so the job's next attempt knows the lease for its own.
func WithJob(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, jobKey{}, id)
}

// JobOf is the durable job ctx works for (WithJob), 0 for none.
func JobOf(ctx context.Context) int64 {
	id, _ := ctx.Value(jobKey{}).(int64)
	return id
}

type claimsKey struct{}

// WithClaims hands leases taken before the work started (key → token) to the work in
// ctx: the job queue's worker takes a job's leases before it starts the job, so that two
// waiting jobs cannot both see a lease free and then race for it. Acquire of a claimed
// key carries the claimed lease on instead of taking it anew.
func WithClaims(ctx context.Context, claims map[string]string) context.Context {
	if len(claims) == 0 {
		return ctx
	}
	return context.WithValue(ctx, claimsKey{}, claims)
}

func claimed(ctx context.Context, key string) (token string, ok bool) {
	claims, _ := ctx.Value(claimsKey{}).(map[string]string)
	token, ok = claims[key]
	return token, ok
}

// Forever, as Manager.Wait, waits for a held lease as long as it takes: until it is
// released or expires, or until the context is cancelled.
const Forever time.Duration = math.MaxInt64

type noticeKey struct{}

// WithWaitNotice has Acquire in ctx tell notice, instead of logging it, when it starts to
// wait for a lease another holder has, and again when the holder changes while it waits
// (once per wait and holder): the work's progress (a job's events, a command's output)
// says what it waits for.
func WithWaitNotice(ctx context.Context, notice func(held store.Lease)) context.Context {
	return context.WithValue(ctx, noticeKey{}, notice)
}

// WaitingText says what a wait is for, for messages: "waiting for group web: held by
// `remint rebuild web` (pid 1234 on host x) since 2026-11-27T03:01:02Z". A lease held
// for job, the waiter's own job, is its earlier attempt's, cut short: it expires unless
// that attempt still runs.
func WaitingText(held store.Lease, job int64) string {
	msg := fmt.Sprintf("waiting for %s: held by %s since %s", Describe(held.Key), HolderText(held.Holder),
		held.Acquired.UTC().Format(time.RFC3339))
	if job != 0 && held.Holder.Job == job {
		msg += fmt.Sprintf(" (an earlier attempt of this job; its lease expires at %s unless that attempt still runs)",
			held.Expires.UTC().Format(time.RFC3339))
	}
	return msg
}

// HolderText describes a lease holder for messages: "`remint rebuild web` (pid 1234 on
// host x)", with ", job 42" when it holds the lease for a durable job.
func HolderText(h store.LeaseHolder) string {
	s := fmt.Sprintf("`%s` (pid %d on host %s", h.Command, h.PID, h.Host)
	if h.Job != 0 {
		s += fmt.Sprintf(", job %d", h.Job)
	}
	return s + ")"
}

// Store keeps leases; *store.Store implements it.
type Store interface {
	AcquireLease(ctx context.Context, key string, holder store.LeaseHolder, ttl time.Duration, now time.Time) (store.Lease, error)
	RenewLease(ctx context.Context, key, token string, ttl time.Duration, now time.Time) (store.Lease, error)
	ReleaseLease(ctx context.Context, key, token string) error
}

// ErrLost is the cause of a lease's context when the lease was lost: it could not be
// renewed before it expired, or another process took it over.
var ErrLost = errors.New("lease lost")

// HeldError refuses a lease another process holds. Its message says who and since when:
// "group web is being changed by `remint rebuild web` (pid 1234 on host x) since
// 12:01:03Z, lease renewed 2s ago".
type HeldError struct {
	Key     string
	Current store.Lease   // the holder's lease (no token)
	Now     time.Time     // when it was refused
	Waited  time.Duration // how long Acquire waited first (Manager.Wait)
}

func (e *HeldError) Error() string {
	h := e.Current.Holder
	since := e.Current.Acquired.UTC()
	layout := "15:04:05Z" // today: the time says enough
	if y, m, d := since.Date(); y != e.Now.UTC().Year() || m != e.Now.UTC().Month() || d != e.Now.UTC().Day() {
		layout = time.RFC3339
	}
	msg := fmt.Sprintf("%s is being changed by %s since %s, lease renewed %s ago",
		Describe(e.Key), HolderText(h), since.Format(layout),
		max(e.Now.Sub(e.Current.Renewed), 0).Round(time.Second))
	if e.Waited > 0 {
		msg += fmt.Sprintf("; waited %s for it", e.Waited)
	}
	return msg
}

// Is makes errors.Is(err, store.ErrLeaseHeld) true.
func (e *HeldError) Is(target error) bool { return target == store.ErrLeaseHeld }

// Manager hands out leases for one holder (this process).
type Manager struct {
	Store  Store
	Holder store.LeaseHolder
	// TTL is how long a lease lives without renewal; 0 means DefaultTTL. It is renewed
	// every TTL/3.
	TTL time.Duration
	// Wait is how long Acquire waits for a lease another process holds; 0 refuses at
	// once, Forever waits as long as it takes.
	Wait   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

func (m *Manager) ttl() time.Duration {
	if m.TTL <= 0 {
		return DefaultTTL
	}
	return m.TTL
}

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m *Manager) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// Acquire takes the lease key, waiting up to m.Wait while another process holds it (a
// *HeldError when it is still held then), saying so once per holder it waits for
// (WithWaitNotice, else the log). The lease is renewed in the background until
// Release; its Context, derived from ctx, is cancelled with cause ErrLost when it is lost.
// In a durable job's ctx (WithJob) the lease names the job; a lease claimed for the work
// (WithClaims) is carried on while it is still the claimant's.
func (m *Manager) Acquire(ctx context.Context, key string) (*Lease, error) {
	if m.Store == nil {
		return nil, errors.New("lease manager has no store")
	}
	holder := m.Holder
	if id := JobOf(ctx); id != 0 {
		holder.Job = id
	}
	ttl := m.ttl()
	if token, ok := claimed(ctx, key); ok {
		// Renewing proves the claim is still ours; a claim released earlier (the work
		// took the lease once already) or lost is not, and the lease is taken anew.
		rec, err := m.Store.RenewLease(ctx, key, token, ttl, m.now())
		if err == nil {
			m.log().Debug("claimed lease carried on", "lease", key, "ttl", ttl)
			return m.hold(ctx, rec, ttl), nil
		}
		if !errors.Is(err, store.ErrLeaseLost) {
			return nil, fmt.Errorf("take the lease of %s: %w", Describe(key), err)
		}
	}
	start := m.now()
	var held *HeldError
	poll := min(time.Second, ttl/3)
	b := retry.WithJitterPercent(10, retry.NewConstant(poll))
	if m.Wait < Forever {
		b = retry.WithMaxDuration(m.Wait, b)
	}
	notice, _ := ctx.Value(noticeKey{}).(func(store.Lease))
	rec, err := retry.DoValue(ctx, b, func(ctx context.Context) (store.Lease, error) {
		now := m.now()
		rec, err := m.Store.AcquireLease(ctx, key, holder, ttl, now)
		var cur *store.LeaseHeldError
		if !errors.As(err, &cur) {
			return rec, err
		}
		if m.Wait > 0 && (held == nil || !sameHolder(held.Current, cur.Current)) {
			if notice != nil {
				notice(cur.Current)
			} else {
				wait := m.Wait.String()
				if m.Wait == Forever {
					wait = "as long as it takes"
				}
				m.log().Info("waiting for the lease", "lease", key, "holder", cur.Current.Holder.Command,
					"pid", cur.Current.Holder.PID, "host", cur.Current.Holder.Host, "job", cur.Current.Holder.Job, "wait", wait)
			}
		}
		held = &HeldError{Key: key, Current: cur.Current, Now: now, Waited: now.Sub(start).Round(time.Second)}
		if m.Wait <= 0 {
			return rec, held
		}
		return rec, retry.RetryableError(held)
	})
	if err != nil {
		if errors.As(err, &held) {
			return nil, held
		}
		return nil, fmt.Errorf("take the lease of %s: %w", Describe(key), err)
	}
	m.log().Debug("lease taken", "lease", key, "ttl", ttl)
	return m.hold(ctx, rec, ttl), nil
}

// sameHolder reports whether two looks at a held lease saw the same take of it.
func sameHolder(a, b store.Lease) bool {
	x, y := a.Holder, b.Holder
	return x.Host == y.Host && x.PID == y.PID && x.Command == y.Command && x.Job == y.Job &&
		x.Started.Equal(y.Started) && a.Acquired.Equal(b.Acquired)
}

// hold starts renewing rec, a lease this process holds, until Release.
func (m *Manager) hold(ctx context.Context, rec store.Lease, ttl time.Duration) *Lease {
	lctx, cancel := context.WithCancelCause(ctx)
	l := &Lease{m: m, rec: rec, ttl: ttl, ctx: lctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go l.renewLoop()
	return l
}

// Lease is a lease this process holds.
type Lease struct {
	m      *Manager
	ttl    time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu  sync.Mutex
	rec store.Lease
}

// Key is the lease's key.
func (l *Lease) Key() string { return l.rec.Key }

// TTL is how long the lease lives without renewal.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Context is cancelled when the lease is lost (cause ErrLost) or released: work done
// under the lease runs in it, so it stops when another process may have taken over.
func (l *Lease) Context() context.Context { return l.ctx }

// Expires is when the lease expires unless renewed again.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Expires
}

// renewLoop renews every TTL/3; each renewal is retried (transient store errors) until
// shortly before the lease would expire. A lease that could not be renewed, or that
// another process holds now, is lost: the context is cancelled.
func (l *Lease) renewLoop() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		// Give up a little before expiry: past it another process may take over.
		left := l.Expires().Sub(l.m.now()) - l.ttl/10
		if left <= 0 {
			l.lost(errors.New("it expired before it could be renewed"))
			return
		}
		b := retry.WithMaxDuration(left, retry.WithJitterPercent(10, retry.NewConstant(max(l.ttl/20, 10*time.Millisecond))))
		err := retry.Do(l.ctx, b, func(ctx context.Context) error {
			rec, err := l.m.Store.RenewLease(ctx, l.rec.Key, l.rec.Token, l.ttl, l.m.now())
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				return err
			case err != nil:
				l.m.log().Warn("lease renewal failed; retrying", "lease", l.rec.Key, "err", err)
				return retry.RetryableError(err)
			}
			l.mu.Lock()
			l.rec.Renewed, l.rec.Expires = rec.Renewed, rec.Expires
			l.mu.Unlock()
			return nil
		})
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.lost(err)
			return
		}
	}
}

func (l *Lease) lost(why error) {
	l.m.log().Error("lease lost: stopping the work done under it", "lease", l.rec.Key, "err", why)
	l.cancel(fmt.Errorf("%s: %w: %v", Describe(l.rec.Key), ErrLost, why))
}

// Release stops renewing and gives the lease up, so the next command need not wait for
// it to expire. It works on a cancelled ctx too (an interrupted command still releases)
// and may be called more than once.
func (l *Lease) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = l.m.Store.ReleaseLease(ctx, l.rec.Key, l.rec.Token)
		l.cancel(context.Canceled)
		if err == nil {
			l.m.log().Debug("lease released", "lease", l.rec.Key)
		}
	})
	return err
}
