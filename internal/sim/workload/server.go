package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Graceful shutdown timing. A workload being deleted may still be sent connections for a
// moment (a floating IP moved just before has some on their way), and net/http drops a
// request it finishes reading after its Shutdown began. So Shutdown first acts as a lame
// duck: it keeps accepting, one request per connection, until no new connection arrived
// for quietPeriod (at most lameDuckMax); then it stops accepting, serves what the kernel
// already queued (see drainListener), closes the socket, and waits up to lameDuckMax more
// for accepted connections to deliver their request before handing the rest to net/http.
const (
	quietPeriod = 100 * time.Millisecond
	lameDuckMax = time.Second
)

// Server is a running workload.
type Server struct {
	cfg      Config
	health   *Health
	ln       *drainListener
	srv      *http.Server
	log      *slog.Logger
	served   chan struct{} // closed when Serve returns
	err      error         // why Serve returned, nil after a requested stop; set before served closes
	stopping atomic.Bool

	mu      sync.Mutex
	states  map[net.Conn]http.ConnState
	new     int           // connections accepted, no request byte read yet
	active  int           // connections with a request being read or answered
	accepts int           // connections accepted so far
	changed chan struct{} // closed and replaced whenever a connection changes state
}

// StartOptions tune Start.
type StartOptions struct {
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // stamps served_at; nil means time.Now
	// Health is the server's health switch, for a caller that flips it and keeps it across
	// restarts; nil means a new switch set from cfg.Unhealthy.
	Health *Health
	// Listen opens the listener; nil means net.Listen via a net.ListenConfig.
	Listen func(ctx context.Context, addr string) (net.Listener, error)
}

// Start waits cfg.StartDelay (a slow boot; cut short by ctx), listens on addr and serves the
// workload in the background. It returns once the listener is open, so a client may connect
// as soon as Start returns.
func Start(ctx context.Context, addr string, cfg Config, opts StartOptions) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.StartDelay > 0 {
		t := time.NewTimer(cfg.StartDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("start workload of server %s on %s: waiting out start delay %s: %w", cfg.ServerID, addr, cfg.StartDelay, context.Cause(ctx))
		case <-t.C:
		}
	}
	listen := opts.Listen
	if listen == nil {
		listen = func(ctx context.Context, addr string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", addr)
		}
	}
	ln, err := listen(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("start workload of server %s: listen on %s: %w", cfg.ServerID, addr, err)
	}
	health := opts.Health
	if health == nil {
		health = NewHealth(!cfg.Unhealthy)
	}
	s := &Server{
		cfg:     cfg,
		health:  health,
		ln:      newDrainListener(ln),
		log:     log,
		served:  make(chan struct{}),
		states:  map[net.Conn]http.ConnState{},
		changed: make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           Handler(cfg.Info, Options{Health: health, Now: opts.Now}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         s.trackConn,
	}
	go func() {
		defer close(s.served)
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) || s.stopping.Load() {
			return
		}
		s.err = err
		_ = s.ln.Close()
		log.Error("workload stopped serving", "server", cfg.ServerID, "addr", ln.Addr().String(), "err", err)
	}()
	log.Info("workload listening", "server", cfg.ServerID, "addr", ln.Addr().String(),
		"image", cfg.ImageName, "version", cfg.ImageVersion, "healthy", health.Healthy())
	return s, nil
}

func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, known := s.states[c]; known { // StateNew is ConnState's zero value
		switch prev {
		case http.StateNew:
			s.new--
		case http.StateActive:
			s.active--
		}
	}
	switch state {
	case http.StateNew:
		s.new++
		s.accepts++
	case http.StateActive:
		s.active++
	}
	if state == http.StateClosed || state == http.StateHijacked {
		delete(s.states, c)
	} else {
		s.states[c] = state
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// InFlight is the number of connections with a request being read or answered.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// snapshot returns whether a connection is new or answering, how many were accepted so
// far, and a channel closed at the next change.
func (s *Server) snapshot() (busy bool, accepts int, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.new+s.active > 0, s.accepts, s.changed
}

// Addr is the address the workload listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Health is the server's health switch.
func (s *Server) Health() *Health { return s.health }

// Done is closed when the server stops accepting connections: when Shutdown closes the
// listener, on Close, or on a fatal accept error reported by Err.
func (s *Server) Done() <-chan struct{} { return s.served }

// Err is the error that stopped the server, nil after a requested stop. Valid after Done.
func (s *Server) Err() error { return s.err }

// Shutdown stops the workload gracefully: idle keep-alive connections close at once and
// busy ones after their current response; the listener stays open (a lame duck) until no
// connection arrived for a short quiet period, so requests already on their way are
// answered rather than reset; every request accepted is answered. When ctx ends first it
// closes every connection and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.srv.SetKeepAlivesEnabled(false)

	deadline := time.NewTimer(lameDuckMax)
	defer deadline.Stop()
	quiet := time.NewTimer(quietPeriod)
	defer quiet.Stop()
	_, lastAccepts, changed := s.snapshot()
lameDuck:
	for {
		select {
		case <-changed:
			var accepts int
			_, accepts, changed = s.snapshot()
			if accepts != lastAccepts {
				lastAccepts = accepts
				quiet.Reset(quietPeriod)
			}
		case <-quiet.C:
			break lameDuck
		case <-deadline.C:
			break lameDuck
		case <-ctx.Done():
			break lameDuck
		}
	}
	s.ln.pause()
	s.ln.drainAndClose() // the backlog is served, not reset
	<-s.served           // from here on every accepted connection is tracked

	deadline.Reset(lameDuckMax)
deliver:
	for {
		busy, _, changed := s.snapshot()
		if !busy {
			break
		}
		select {
		case <-changed:
		case <-deadline.C:
			break deliver // what is left is answered (or dropped if still silent) by net/http
		case <-ctx.Done():
			break deliver
		}
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("shut down workload of server %s on %s: %w", s.cfg.ServerID, s.ln.Addr(), err)
	}
	return nil
}

// Close stops the server at once, cutting every connection (a hard power-off).
func (s *Server) Close() error {
	s.stopping.Store(true)
	err := s.srv.Close()
	<-s.served
	return err
}
