package loopback

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/workload"
)

// server is one booted server. mu serialises its lifecycle (start, reboot, stop); the
// start delay is waited out under it, and stop cancels life first so it never waits
// behind a slow boot.
type server struct {
	d       *Driver
	spec    sim.BootSpec
	fixed   netip.Addr // invalid when the server has no network
	cfg     workload.Config
	cfgErr  error // a bad workload control value: every start fails with it
	health  *workload.Health
	console *console
	log     *slog.Logger

	life   context.Context // ends when the server is deleted
	cancel context.CancelFunc

	mu sync.Mutex                      // serialises start, reboot and stop
	ws atomic.Pointer[workload.Server] // nil while stopped; written under mu
}

func newServer(d *Driver, spec sim.BootSpec, fixed netip.Addr) *server {
	info := workload.Info{
		ServerID:   spec.ServerID,
		ServerName: spec.Name,
		ImageID:    spec.ImageID,
		ImageName:  spec.ImageName,
		Hostname:   hostname(spec.Name, spec.ServerID),
	}
	cfg, err := workload.ConfigFrom(info, spec.ImageProps, spec.Metadata, spec.UserData)
	if err != nil {
		cfg = workload.Config{Info: info}
	}
	life, cancel := context.WithCancel(context.Background())
	return &server{
		d: d, spec: spec, fixed: fixed, cfg: cfg, cfgErr: err,
		health:  workload.NewHealth(!cfg.Unhealthy),
		console: &console{now: d.opts.Now},
		log:     d.log.With("server", spec.ServerID),
		life:    life, cancel: cancel,
	}
}

// startLocked boots the server: console banner, then the workload. Caller holds s.mu.
func (s *server) startLocked(ctx context.Context) error {
	c := s.console
	c.powerOn()
	c.cloudInit("init-local")
	c.cloudInit("init")
	if !s.fixed.IsValid() {
		c.printf("ci-info: no network interfaces: remint-workload has no address to listen on")
		s.finishBoot()
		return nil
	}
	bits := 8
	if s.d.opts.PrivateCIDR.Contains(s.fixed) {
		bits = s.d.opts.PrivateCIDR.Bits()
	}
	c.printf("ci-info: +++++++++++++++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++++++++++++++++")
	c.printf("ci-info: | eth0 | True | %s | %s | global |", s.fixed, net.IP(net.CIDRMask(bits, 32)))
	if s.cfgErr != nil {
		c.printf("remint-workload.service: bad configuration: %v", s.cfgErr)
		return fmt.Errorf("boot server %s: %w", s.spec.ServerID, s.cfgErr)
	}
	c.cloudInit("modules:config")
	c.cloudInit("modules:final")
	health := "healthy"
	if !s.health.Healthy() {
		health = "unhealthy"
	}
	c.printf("remint-workload starting for server %s: image %s (%s) version %q, health %s, start delay %s",
		s.spec.ServerID, s.cfg.ImageName, s.cfg.ImageID, s.cfg.ImageVersion, health, s.cfg.StartDelay)

	// The start is cut short by the caller giving up or by the server being deleted.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	addr := net.JoinHostPort(s.fixed.String(), strconv.Itoa(s.d.opts.Port))
	ws, err := workload.Start(sctx, addr, s.cfg, workload.StartOptions{Logger: s.log, Health: s.health})
	if err != nil {
		c.printf("remint-workload.service: failed: %v", err)
		return fmt.Errorf("boot server %s: %w", s.spec.ServerID, err)
	}
	s.ws.Store(ws)
	c.printf("remint-workload listening on %s", addr)
	s.finishBoot()
	s.log.Info("server booted", "addr", addr, "image", s.cfg.ImageName, "version", s.cfg.ImageVersion)
	return nil
}

func (s *server) finishBoot() {
	c := s.console
	c.printf("Cloud-init v. 23.1 finished at %s. Datasource DataSourceOpenStackLocal [net,ver=2].  Up %.2f seconds",
		c.now().UTC().Format(time.RFC1123Z), c.uptime().Seconds())
	c.printf("")
	c.printf("Debian GNU/Linux 12 %s ttyS0", s.cfg.Hostname)
	c.printf("")
	c.printf("%s login: ", s.cfg.Hostname)
}

// stop drains the workload for good (Delete, Close): in-flight requests finish until ctx
// ends, then the rest are cut.
func (s *server) stop(ctx context.Context) {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.console.kernel("reboot: Power down")
	ws := s.ws.Swap(nil)
	if ws == nil {
		return
	}
	inflight := ws.InFlight()
	if err := ws.Shutdown(ctx); err != nil {
		s.log.Warn("server stopped before its in-flight requests finished", "in_flight", inflight, "err", err)
	} else {
		s.log.Info("server stopped", "drained", inflight)
	}
}

// reboot restarts the workload: drained when soft, cut when hard.
func (s *server) reboot(ctx context.Context, hard bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Err() != nil {
		return fmt.Errorf("reboot server %s: deleted", s.spec.ServerID)
	}
	c := s.console
	if ws := s.ws.Swap(nil); ws != nil {
		if hard {
			_ = ws.Close()
		} else {
			c.printf("         Stopping remint-workload.service - remint workload...")
			sctx, cancel := context.WithTimeout(ctx, s.d.opts.StopTimeout)
			err := ws.Shutdown(sctx)
			cancel()
			if err != nil {
				s.log.Warn("soft reboot cut in-flight requests", "err", err)
			}
			c.printf("[  OK  ] Stopped remint-workload.service - remint workload.")
		}
	}
	if hard {
		c.printf("remint loopback driver: hard reset")
	} else {
		c.kernel("reboot: Restarting system")
	}
	s.log.Info("server rebooting", "hard", hard)
	return s.startLocked(ctx)
}

// inFlight is the number of requests the workload is answering now.
func (s *server) inFlight() int {
	if ws := s.ws.Load(); ws != nil {
		return ws.InFlight()
	}
	return 0
}

func (s *server) setHealth(healthy bool) {
	s.health.Set(healthy)
	s.console.printf("remint loopback driver: workload health set to %s", map[bool]string{true: "healthy", false: "unhealthy"}[healthy])
}
