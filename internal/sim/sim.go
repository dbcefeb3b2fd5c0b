package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a simulator.
type Config struct {
	// Listen is the address of the API listener; default 127.0.0.1:0 (any free port).
	Listen string
	// Driver runs the servers; nil means NopDriver (API objects only).
	Driver Driver
	// Region is the catalog region; default RegionOne.
	Region string
	// BootTime is how long a server stays in BUILD before the driver is asked to boot it.
	// Default 300ms.
	BootTime time.Duration
	// ImageSaveTime is how long a snapshot stays in each of queued and saving. Default 200ms.
	ImageSaveTime time.Duration
	// Username, Password, ProjectName are the one user the cloud knows (domain Default).
	// Defaults: admin / a random password / admin.
	Username, Password, ProjectName string
	// Seed of the fault-injection random source; 0 picks one from the clock.
	RandSeed uint64
	// Logger receives one line per API call at debug level; nil discards.
	Logger *slog.Logger
}

// Sim is a running simulated cloud.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	driver Driver
	faults *Faults

	mu    sync.Mutex
	st    *state
	ident identity
	// nside is Neutron's side state; its fipOrder lock is taken before mu by every path
	// that changes where a floating IP points (Neutron updates, Nova server teardown).
	nside neutronSide

	ln      net.Listener
	srv     *http.Server
	mux     *http.ServeMux
	baseURL string

	calls sync.Map // op string -> *atomic.Int64

	// bg tracks asynchronous state changes (BUILD→ACTIVE, snapshot saving) so Close
	// can wait for them.
	bg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// identity is Keystone's state: the one user, the project, app credentials and tokens.
type identity struct {
	userID, projectID, domainID string
	appCreds                    map[string]*AppCredential // id -> cred
	tokens                      map[string]*Token
}

// AppCredential is a Keystone application credential.
type AppCredential struct {
	ID, Name, Secret string
}

// Token is an issued Keystone token.
type Token struct {
	ID        string
	Methods   []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	AuditID   string
	// AppCredentialID is set on tokens issued for an application credential.
	AppCredentialID string
}

// New creates a simulator; call Start to serve it.
func New(cfg Config) *Sim {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Driver == nil {
		cfg.Driver = NopDriver()
	}
	if cfg.Region == "" {
		cfg.Region = "RegionOne"
	}
	if cfg.BootTime == 0 {
		cfg.BootTime = 300 * time.Millisecond
	}
	if cfg.ImageSaveTime == 0 {
		cfg.ImageSaveTime = 200 * time.Millisecond
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = randomHex(16)
	}
	if cfg.ProjectName == "" {
		cfg.ProjectName = "admin"
	}
	if cfg.RandSeed == 0 {
		cfg.RandSeed = uint64(time.Now().UnixNano())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		cfg:    cfg,
		log:    log,
		driver: cfg.Driver,
		faults: newFaults(cfg.RandSeed),
		st:     newState(),
		ident: identity{
			userID:    newID32(),
			projectID: newID32(),
			domainID:  "default",
			appCreds:  map[string]*AppCredential{},
			tokens:    map[string]*Token{},
		},
		mux:    http.NewServeMux(),
		ctx:    ctx,
		cancel: cancel,
	}
	s.nside.sgCreated = time.Now().UTC()
	s.routes()
	return s
}

// Start listens and serves the API in the background.
func (s *Sim) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("simulator: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.baseURL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("simulator API server stopped", "err", err)
		}
	}()
	return nil
}

// Close stops the API, waits for asynchronous work, and closes the driver (which stops
// every server it runs).
func (s *Sim) Close() error {
	s.cancel()
	var errs []error
	if s.srv != nil {
		// Answer in-flight calls for a moment, then drop the rest: a client holding an
		// idle or unused connection must not delay shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, s.srv.Close())
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	s.bg.Wait()
	errs = append(errs, s.driver.Close())
	return errors.Join(errs...)
}

// BaseURL is the root of the simulator, e.g. http://127.0.0.1:41234.
func (s *Sim) BaseURL() string { return s.baseURL }

// AuthURL is the Keystone v3 endpoint clients authenticate against.
func (s *Sim) AuthURL() string { return s.baseURL + "/identity/v3" }

// Region is the catalog region.
func (s *Sim) Region() string { return s.cfg.Region }

// Credentials returns the user, password and project the cloud accepts.
func (s *Sim) Credentials() (user, password, project string) {
	return s.cfg.Username, s.cfg.Password, s.cfg.ProjectName
}

// Faults returns the fault-injection rules, to be changed while the simulator runs.
func (s *Sim) Faults() *Faults { return s.faults }

// Driver returns the driver running the servers.
func (s *Sim) Driver() Driver { return s.driver }

// Calls returns how many API calls each operation has answered (faults included).
func (s *Sim) Calls() map[string]int64 {
	out := map[string]int64{}
	s.calls.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// TotalCalls is the sum of Calls, excluding version discovery and token issue.
func (s *Sim) TotalCalls() int64 {
	var n int64
	for op, c := range s.Calls() {
		if strings.HasSuffix(op, ".versions") || op == "identity.token.issue" {
			continue
		}
		n += c
	}
	return n
}

// ResetCalls zeroes the call counters.
func (s *Sim) ResetCalls() { s.calls.Clear() }

func (s *Sim) countCall(op string) {
	v, _ := s.calls.LoadOrStore(op, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// service is which API a route belongs to; it decides error body shapes and headers.
type service string

const (
	svcIdentity service = "identity"
	svcCompute  service = "compute"
	svcImage    service = "image"
	svcNetwork  service = "network"
)

func serviceOf(op string) service {
	i := strings.IndexByte(op, '.')
	if i < 0 {
		return svcIdentity
	}
	return service(op[:i])
}

// handle registers an authenticated API route. op names the operation for fault
// injection and call counting: "<service>.<resource>.<verb>", e.g. "compute.server.create".
// pattern is a net/http ServeMux pattern including the method, e.g.
// "POST /compute/v2.1/servers".
func (s *Sim) handle(pattern, op string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.wrap(op, true, h))
}

// handlePublic registers a route that needs no token (version documents, token issue).
func (s *Sim) handlePublic(pattern, op string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.wrap(op, false, h))
}

type ctxKey int

const ctxKeyOp ctxKey = 1

func (s *Sim) wrap(op string, auth bool, h http.HandlerFunc) http.Handler {
	svc := serviceOf(op)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := "req-" + newUUID()
		w.Header().Set("X-Openstack-Request-Id", reqID)
		if svc == svcCompute {
			w.Header().Set("X-Compute-Request-Id", reqID)
		}
		s.countCall(op)
		sw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() {
			s.log.Debug("api call", "op", op, "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "duration", time.Since(start), "request_id", reqID)
		}()
		if auth && !s.validToken(r.Header.Get("X-Auth-Token")) {
			s.writeError(sw, svc, http.StatusUnauthorized, "The request you have made requires authentication.")
			return
		}
		if s.faults.inject(r.Context(), sw, svc, op, s) {
			return
		}
		h(sw, r.WithContext(context.WithValue(r.Context(), ctxKeyOp, op)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// validToken reports whether tok was issued and has not expired.
func (s *Sim) validToken(tok string) bool {
	if tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.ident.tokens[tok]
	return ok && time.Now().Before(t.ExpiresAt)
}

// routes registers every service's routes. Each service file provides its own routesX.
func (s *Sim) routes() {
	s.routesKeystone()
	s.routesNova()
	s.routesGlance()
	s.routesNeutron()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		svc := serviceOf(strings.TrimPrefix(strings.ReplaceAll(r.URL.Path, "/", "."), "."))
		s.writeError(w, svc, http.StatusNotFound, "The resource could not be found.")
	})
}

// goAsync runs f in the background, tracked so Close waits for it. f must return promptly
// once ctx is cancelled.
func (s *Sim) goAsync(f func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(s.ctx)
	}()
}

// sleepCtx waits d or until ctx ends; it reports whether the full time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newID32 returns a Keystone-style 32-hex-digit id.
func newID32() string { return randomHex(16) }
