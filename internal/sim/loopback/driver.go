// Package loopback is the simulator's default server driver: every server is the workload
// app (internal/sim/workload) listening on the server's own fixed IP in 127.0.0.0/8, and every
// floating IP is a real listener (internal/sim/fipproxy) forwarding to the server it is
// associated with, so moving the address moves real traffic. It runs anywhere Linux does:
// all of 127.0.0.0/8 is local there, no privileges needed.
//
// Entry points: New (fixed address plan, default 127.10.0.0/16 private and 127.20.0.0/16
// public), NewReserved (the same, held against other simulators) and NewFree (picks and
// holds an unused pair of /16s, so several simulators in one test run or on one machine do
// not collide).
//
// A server's life: Boot starts the workload (after the image's start delay, if any) and
// prints a cloud-init-like console log; Reboot stops it (gracefully when soft, cutting
// connections when hard) and starts it again; Delete drains in-flight requests and closes
// idle keep-alive connections. Images have no bits: a snapshot is only a reference, and a
// server booted from it serves that image's properties (remint_version and the workload
// controls documented in internal/sim/workload).
package loopback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/fipproxy"
)

var _ sim.Driver = (*Driver)(nil)

// SeedImageRef is the driver reference of the seeded debian-12 image.
const SeedImageRef = "loopback:debian-12"

// Options configure a Driver. The zero value is usable.
type Options struct {
	// PrivateCIDR and PublicCIDR are the seeded tenant network and floating-IP pool; both
	// must lie in 127.0.0.0/8. Defaults DefaultPrivateCIDR and DefaultPublicCIDR.
	PrivateCIDR, PublicCIDR netip.Prefix
	// Port is the workload's port on every server and floating IP. Default 8080.
	Port int
	// StopTimeout bounds the graceful stop of a soft reboot and of Close. Default 10s.
	StopTimeout time.Duration
	// Logger receives server lifecycle events; nil discards.
	Logger *slog.Logger
	// Now is the clock of console timestamps; nil means time.Now.
	Now func() time.Time
}

// Driver runs servers as in-process workloads on loopback addresses.
type Driver struct {
	opts  Options
	log   *slog.Logger
	proxy *fipproxy.Proxy
	held  []*reservation // address plan reservations of NewFree, released by Close

	mu      sync.Mutex
	servers map[string]*server
	// lastWords keeps the console of the most recently deleted servers, so a server that
	// failed to boot (the simulator frees it at once and reports ERROR) still shows why.
	lastWords     map[string]string
	lastWordOrder []string
	closed        bool
}

// maxLastWords bounds how many deleted servers' consoles are kept.
const maxLastWords = 256

// New returns a driver with the address plan of opts (defaults when unset).
func New(opts Options) *Driver {
	if !opts.PrivateCIDR.IsValid() {
		opts.PrivateCIDR = DefaultPrivateCIDR
	}
	if !opts.PublicCIDR.IsValid() {
		opts.PublicCIDR = DefaultPublicCIDR
	}
	if opts.Port == 0 {
		opts.Port = 8080
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger.With("driver", "loopback")
	return &Driver{
		opts:      opts,
		log:       log,
		proxy:     fipproxy.New(log, opts.Port),
		servers:   map[string]*server{},
		lastWords: map[string]string{},
	}
}

// NewFree returns a driver whose address plan is a pair of /16s in 127.64–127.250 that no
// other simulator holds, overriding opts.PrivateCIDR and opts.PublicCIDR. The pair stays
// reserved until Close.
func NewFree(opts Options) (*Driver, error) {
	if opts.Port == 0 {
		opts.Port = 8080
	}
	private, public, err := reserveFreePlan(opts.Port)
	if err != nil {
		return nil, err
	}
	opts.PrivateCIDR, opts.PublicCIDR = private.prefix, public.prefix
	d := New(opts)
	d.held = []*reservation{private, public}
	return d, nil
}

// NewReserved is New that also reserves its address plan as NewFree does, failing (with
// an error matching syscall.EADDRINUSE) when another simulator holds it.
func NewReserved(opts Options) (*Driver, error) {
	d := New(opts)
	private, err := reservePrefix(d.opts.PrivateCIDR, d.opts.Port)
	if err != nil {
		return nil, err
	}
	public, err := reservePrefix(d.opts.PublicCIDR, d.opts.Port)
	if err != nil {
		_ = private.ln.Close()
		return nil, err
	}
	d.held = []*reservation{private, public}
	return d, nil
}

// Name is "loopback".
func (d *Driver) Name() string { return "loopback" }

// AddressPlan returns the tenant network and floating-IP pool CIDRs.
func (d *Driver) AddressPlan() (private, public netip.Prefix) {
	return d.opts.PrivateCIDR, d.opts.PublicCIDR
}

// Port is the workload port on servers and floating IPs.
func (d *Driver) Port() int { return d.opts.Port }

// SeedImage returns SeedImageRef; loopback images have no bits to prepare.
func (d *Driver) SeedImage(context.Context) (string, error) { return SeedImageRef, nil }

// Boot starts the workload of spec on spec.FixedIP and returns once it listens. A server
// without a fixed IP boots with nothing listening. The server is kept (for ConsoleLog and
// Delete) even when its workload fails to start.
func (d *Driver) Boot(ctx context.Context, spec sim.BootSpec) error {
	if spec.ServerID == "" {
		return errors.New("boot: server id is empty")
	}
	var fixed netip.Addr
	if spec.FixedIP != "" {
		a, err := netip.ParseAddr(spec.FixedIP)
		if err != nil {
			return fmt.Errorf("boot server %s: fixed IP %q: %w", spec.ServerID, spec.FixedIP, err)
		}
		if !a.Is4() || !loopbackNet.Contains(a) {
			return fmt.Errorf("boot server %s: the loopback driver serves only addresses in %s, not %s (create the server on the seeded network %s)",
				spec.ServerID, loopbackNet, a, d.opts.PrivateCIDR)
		}
		fixed = a
	}
	s := newServer(d, spec, fixed)
	s.mu.Lock() // held through the first start, so Delete and Reboot wait for it
	defer s.mu.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		s.cancel()
		return fmt.Errorf("boot server %s: driver closed", spec.ServerID)
	}
	if _, dup := d.servers[spec.ServerID]; dup {
		d.mu.Unlock()
		s.cancel()
		return fmt.Errorf("boot server %s: already running", spec.ServerID)
	}
	d.servers[spec.ServerID] = s
	d.forgetLocked(spec.ServerID)
	d.mu.Unlock()
	return s.startLocked(ctx)
}

// loopbackNet is the only range the driver binds.
var loopbackNet = netip.MustParsePrefix("127.0.0.0/8")

// Delete drains and stops server id: in-flight requests finish (until ctx ends, when they
// are cut) and idle keep-alive connections close. Unknown servers are not an error.
func (d *Driver) Delete(ctx context.Context, serverID string) error {
	d.mu.Lock()
	s := d.servers[serverID]
	delete(d.servers, serverID)
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	s.stop(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, bootedAgain := d.servers[serverID]; !bootedAgain {
		d.forgetLocked(serverID)
		d.lastWords[serverID] = s.console.String()
		d.lastWordOrder = append(d.lastWordOrder, serverID)
		if len(d.lastWordOrder) > maxLastWords {
			delete(d.lastWords, d.lastWordOrder[0])
			d.lastWordOrder = d.lastWordOrder[1:]
		}
	}
	return nil
}

// forgetLocked drops id's kept console. Caller holds d.mu.
func (d *Driver) forgetLocked(id string) {
	if _, ok := d.lastWords[id]; !ok {
		return
	}
	delete(d.lastWords, id)
	for i, o := range d.lastWordOrder {
		if o == id {
			d.lastWordOrder = append(d.lastWordOrder[:i], d.lastWordOrder[i+1:]...)
			break
		}
	}
}

// Reboot stops the workload and starts it again: a soft reboot drains it (bounded by
// Options.StopTimeout), a hard one cuts every connection. Health set with SetHealth
// survives, as a broken disk would.
func (d *Driver) Reboot(ctx context.Context, serverID string, hard bool) error {
	s, err := d.server(serverID)
	if err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	return s.reboot(ctx, hard)
}

// Snapshot returns "loopback:<serverID>@<imageID>": there are no bits to capture.
func (d *Driver) Snapshot(_ context.Context, serverID, imageID string) (string, error) {
	s, err := d.server(serverID)
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	s.console.printf("[  OK  ] remint loopback driver: snapshot %s taken", imageID)
	return "loopback:" + serverID + "@" + imageID, nil
}

// ConsoleLog returns the server's console output so far; for a recently deleted server
// (one that failed to boot, say) the output it had when it was stopped.
func (d *Driver) ConsoleLog(_ context.Context, serverID string) (string, error) {
	d.mu.Lock()
	s := d.servers[serverID]
	last, kept := d.lastWords[serverID]
	d.mu.Unlock()
	switch {
	case s != nil:
		return s.console.String(), nil
	case kept:
		return last, nil
	default:
		return "", fmt.Errorf("console log: server %s is not running on the loopback driver", serverID)
	}
}

// SetHealth makes server id's /healthz answer 200 (true) or 503 (false) from now on,
// across reboots: a fault scenario's "server turned bad".
func (d *Driver) SetHealth(serverID string, healthy bool) error {
	s, err := d.server(serverID)
	if err != nil {
		return fmt.Errorf("set health: %w", err)
	}
	s.setHealth(healthy)
	return nil
}

// InFlight returns how many requests server id is answering now (0 while it is stopped).
func (d *Driver) InFlight(serverID string) (int, error) {
	s, err := d.server(serverID)
	if err != nil {
		return 0, fmt.Errorf("in-flight requests: %w", err)
	}
	return s.inFlight(), nil
}

// SetFloatingIP makes fip forward the workload port to fixedIP ("" detaches: connections
// are accepted and reset). The address must lie in the public CIDR.
func (d *Driver) SetFloatingIP(ctx context.Context, fip, fixedIP string) error {
	a, err := netip.ParseAddr(fip)
	if err != nil {
		return fmt.Errorf("set floating IP %q: %w", fip, err)
	}
	if !d.opts.PublicCIDR.Contains(a) {
		return fmt.Errorf("set floating IP %s: not in the loopback driver's public range %s", fip, d.opts.PublicCIDR)
	}
	if fixedIP != "" {
		t, err := netip.ParseAddr(fixedIP)
		if err != nil {
			return fmt.Errorf("set floating IP %s: target %q: %w", fip, fixedIP, err)
		}
		if !loopbackNet.Contains(t) {
			return fmt.Errorf("set floating IP %s: target %s is not a loopback address", fip, fixedIP)
		}
	}
	return d.proxy.Set(ctx, fip, fixedIP)
}

// ReleaseFloatingIP closes fip's listener and every connection through it.
func (d *Driver) ReleaseFloatingIP(_ context.Context, fip string) error {
	return d.proxy.Release(fip)
}

// FloatingIPStats returns the forwarding counters of fip and whether it is allocated.
func (d *Driver) FloatingIPStats(fip string) (fipproxy.Stats, bool) { return d.proxy.Stats(fip) }

// Servers lists the ids of the servers the driver runs, sorted.
func (d *Driver) Servers() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.servers))
	for id := range d.servers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Close stops every server (draining each for up to Options.StopTimeout), releases every
// floating IP and the address plan reservation. Boot fails afterwards.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	servers := d.servers
	d.servers = map[string]*server{}
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), d.opts.StopTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.stop(ctx) })
	}
	wg.Wait()
	errs := []error{d.proxy.Close()}
	for _, r := range d.held {
		if err := r.ln.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release address plan %s: %w", r.prefix, err))
		}
	}
	d.held = nil
	return errors.Join(errs...)
}

func (d *Driver) server(id string) (*server, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.servers[id]
	if s == nil {
		return nil, fmt.Errorf("server %s is not running on the loopback driver", id)
	}
	return s, nil
}

// hostname is what cloud-init would set from the server name: lower case letters, digits
// and dashes, at most 63 characters.
func hostname(name, id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if h == "" {
		h = "host-" + id
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	return h
}
