package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a running workload.
type Server struct {
	cfg    Config
	health *Health
	ln     net.Listener
	srv    *http.Server
	done   chan struct{}
	err    error // set before done closes

	mu     sync.Mutex
	states map[net.Conn]http.ConnState
	active int // connections in StateActive: requests being read or answered
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
		cfg:    cfg,
		health: health,
		ln:     ln,
		done:   make(chan struct{}),
		states: map[net.Conn]http.ConnState{},
	}
	s.srv = &http.Server{
		Handler:           Handler(cfg.Info, Options{Health: health, Now: opts.Now}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         s.trackConn,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
			log.Error("workload stopped serving", "server", cfg.ServerID, "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("workload listening", "server", cfg.ServerID, "addr", ln.Addr().String(),
		"image", cfg.ImageName, "version", cfg.ImageVersion, "healthy", health.Healthy())
	return s, nil
}

func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states[c] == http.StateActive {
		s.active--
	}
	if state == http.StateActive {
		s.active++
	}
	if state == http.StateClosed || state == http.StateHijacked {
		delete(s.states, c)
		return
	}
	s.states[c] = state
}

// InFlight is the number of connections with a request being read or answered.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Addr is the address the workload listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Health is the server's health switch.
func (s *Server) Health() *Health { return s.health }

// Done is closed when the server stops serving (after Shutdown or Close, or on a fatal
// accept error reported by Err).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the error that stopped the server, nil after a requested stop. Valid after Done.
func (s *Server) Err() error { return s.err }

// Shutdown stops accepting, closes idle keep-alive connections and waits for in-flight
// requests to finish. When ctx ends first it closes every connection and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("shut down workload of server %s on %s: %w", s.cfg.ServerID, s.ln.Addr(), err)
	}
	<-s.done
	return err
}

// Close stops the server at once, cutting every connection (a hard power-off).
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
