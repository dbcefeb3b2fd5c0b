// Package console is remint's web console, served by `remint serve` at /: server-rendered
// pages (html/template, embedded with go:embed) for groups, images, updates with their
// schedules, and jobs, with a little vanilla JavaScript for the live rrule preview and a
// running job's progress. No Node toolchain, no external fonts or CDNs.
//
// The entry point is New. The console reads and changes the world only through the small
// interfaces below (Jobs, Groups, Images, Schedules), which cmd/remint wires to the job
// queue, the failover use cases, the image catalog and the schedule book.
//
// Access: a login form takes a bearer token, verified by an auth.Authenticator on every
// request, and keeps it in a cookie (HttpOnly, SameSite=Strict, Secure over TLS).
// Writes are POST only and carry a per-session CSRF token (an HMAC of the session's
// token) checked on the server; read-only principals see no write buttons and get 403.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

//go:embed templates/*.html static/*
var files embed.FS

// Jobs is the durable job queue (orchestrator.Local implements it).
type Jobs interface {
	Insert(ctx context.Context, req orchestrator.JobRequest) (orchestrator.Job, error)
	Get(ctx context.Context, id int64) (orchestrator.Job, error)
	List(ctx context.Context, o orchestrator.ListOptions) ([]orchestrator.Job, error)
	// Kinds are the job kinds this daemon runs (a button for a kind it lacks is not shown).
	Kinds() []string
}

// Groups reads the manifest's groups: their state checked against the cloud (what
// `remint group show` prints) and the plan a rebuild would follow (what `remint plan`
// prints).
type Groups interface {
	GroupNames() []string
	// Slots is the group's slot count (its servers, from the manifest).
	Slots(group string) int
	Status(ctx context.Context, group string) (failover.GroupStatus, error)
	Plan(ctx context.Context, group string) (string, error)
	// RollbackPlan says what a rollback would do: which slots' addresses move back to
	// which kept servers.
	RollbackPlan(ctx context.Context, group string) (string, error)
	// Pending is, per server id, how many updates the group's latest in-place run left
	// pending (servers it did not look at are absent).
	Pending(ctx context.Context, group string) (map[string]int, error)
}

// Image is one version of an image family as the console shows it.
type Image struct {
	Version            string
	State              string
	ImageID            string
	Name               string
	Built              time.Time
	Verification       string // passed, failed, operator, or "" (never verified by remint)
	VerificationReason string
	// Previous is the version Changes compare against ("" for the oldest version);
	// NoDiff says why there is no package diff (no recorded package list).
	Previous string
	Changes  []debian.Change
	NoDiff   string
}

// Images reads and changes the image catalog.
type Images interface {
	FamilyNames() []string
	// Versions lists a family's versions newest first, each with its package diff to the
	// version before it.
	Versions(ctx context.Context, family string) ([]Image, error)
	Revoke(ctx context.Context, family, version, reason string) error
}

// Schedules are the run-time schedules (*orchestrator.ScheduleBook implements it).
type Schedules interface {
	List(ctx context.Context, target string) ([]store.ScheduleDef, error)
	Get(ctx context.Context, id int64) (store.ScheduleDef, error)
	Create(ctx context.Context, spec orchestrator.ScheduleSpec, by string) (store.ScheduleDef, error)
	Update(ctx context.Context, id int64, spec orchestrator.ScheduleSpec) (store.ScheduleDef, error)
	Delete(ctx context.Context, id int64) error
}

// StaticSchedule is a schedule of the manifest: shown, never changed here.
type StaticSchedule struct {
	Name, RRule, Action, Target string
	Window                      time.Duration
}

// Config wires the console.
type Config struct {
	Auth      auth.Authenticator
	Jobs      Jobs
	Groups    Groups
	Images    Images
	Schedules Schedules
	Static    []StaticSchedule
	// Now is the clock (time.Now when nil); Logger logs failures (slog.Default when nil).
	Now    func() time.Time
	Logger *slog.Logger
	// PollInterval is how often a job page's event stream looks for changes (500ms when 0).
	PollInterval time.Duration
}

// Console serves the web console.
type Console struct {
	cfg   Config
	key   []byte // signs CSRF tokens; new per process
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the console's handler.
func New(cfg Config) (*Console, error) {
	if cfg.Auth == nil || cfg.Jobs == nil || cfg.Groups == nil || cfg.Images == nil || cfg.Schedules == nil {
		return nil, fmt.Errorf("console: Auth, Jobs, Groups, Images and Schedules are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	c := &Console{cfg: cfg, key: make([]byte, 32), pages: map[string]*template.Template{}}
	if _, err := rand.Read(c.key); err != nil {
		return nil, err
	}
	for _, p := range []string{"login", "error", "groups", "confirm", "images", "updates", "schedule", "jobs", "job"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/form.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", p, err)
		}
		c.pages[p] = t
	}
	c.routes()
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(files, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.HandleFunc("POST /logout", c.write(c.logout))
	m.HandleFunc("GET /{$}", c.read(func(w http.ResponseWriter, r *http.Request, s *session) {
		http.Redirect(w, r, "/groups", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /groups", c.read(c.groupsPage))
	m.HandleFunc("GET /groups/{group}/rebuild", c.read(c.confirmRebuild))
	m.HandleFunc("POST /groups/{group}/rebuild", c.write(c.rebuild))
	m.HandleFunc("GET /groups/{group}/rollback", c.read(c.confirmRollback))
	m.HandleFunc("POST /groups/{group}/rollback", c.write(c.rollback))
	m.HandleFunc("GET /images", c.read(c.imagesPage))
	m.HandleFunc("POST /images/{family}/build", c.write(c.buildImage))
	m.HandleFunc("POST /images/{family}/{version}/revoke", c.write(c.revokeImage))
	m.HandleFunc("GET /updates", c.read(c.updatesIndex))
	m.HandleFunc("GET /updates/{group}", c.read(c.updatesPage))
	m.HandleFunc("POST /updates/{group}/update", c.write(c.update))
	m.HandleFunc("POST /updates/{group}/schedules", c.write(c.createSchedule))
	m.HandleFunc("GET /updates/{group}/{slot}", c.read(c.updatesPage))
	m.HandleFunc("POST /updates/{group}/{slot}/update", c.write(c.update))
	m.HandleFunc("POST /updates/{group}/{slot}/schedules", c.write(c.createSchedule))
	m.HandleFunc("GET /schedules/{id}", c.read(c.schedulePage))
	m.HandleFunc("POST /schedules/{id}", c.write(c.updateSchedule))
	m.HandleFunc("POST /schedules/{id}/delete", c.write(c.deleteSchedule))
	m.HandleFunc("GET /rrule/next", c.read(c.rruleNext))
	m.HandleFunc("GET /jobs", c.read(c.jobsPage))
	m.HandleFunc("GET /jobs/{id}", c.read(c.jobPage))
	m.HandleFunc("GET /jobs/{id}/events", c.read(c.jobEvents))
	c.mux = m
}

// Mount routes the console's paths on mux (/, /login, /logout, /static/, /groups,
// /images, /updates, /schedules/, /rrule/, /jobs), leaving every other path (the APIs,
// /healthz, /metrics, …) to whatever else mux serves.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.Handle("/{$}", c)
	for _, p := range []string{"/login", "/logout", "/static/", "/groups", "/groups/", "/images", "/images/", "/updates", "/updates/",
		"/schedules/", "/rrule/", "/jobs", "/jobs/"} {
		mux.Handle(p, c)
	}
}
