// Package fipproxy forwards floating IPs on loopback: each floating address is a real
// listener on a fixed list of ports (8080 for the workload, 22 for SSH with the docker
// driver) that forwards every connection to the same port of the fixed IP the address is
// associated with.
//
// Entry point: New, then Set to allocate or retarget an address, Release to free it.
//
// Semantics, chosen to match what moving a Neutron floating IP does to traffic:
//   - The target is read when a connection is accepted. After Set returns, every new
//     connection goes to the new target; connections already established keep flowing to
//     the old one until either side closes them (a retarget cuts nothing).
//   - The listener stays open for as long as the address is allocated, so a retarget never
//     refuses a connection.
//   - A detached address (target "") accepts each connection and resets it at once. Real
//     Neutron drops the packets and the client waits for its connect timeout; resetting
//     fails the client just as surely but without stalling tests for that timeout, and the
//     listener keeps the address owned.
//   - A target that does not answer (nothing listening, server gone) resets the client too,
//     unless the address was retargeted meanwhile: then the new target is tried.
//   - Release closes the listeners and every connection through the address.
package fipproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPorts are forwarded when New is given none: the workload's HTTP port.
var DefaultPorts = []int{8080}

// dialTimeout bounds connecting to a target; loopback answers at once or not at all.
const dialTimeout = 5 * time.Second

// maxDialAttempts bounds how often one connection follows retargets while its dial fails.
const maxDialAttempts = 3

// Proxy owns the floating addresses of one simulator. Safe for concurrent use.
type Proxy struct {
	log   *slog.Logger
	ports []int
	dial  func(ctx context.Context, addr string) (net.Conn, error)

	mu     sync.Mutex
	addrs  map[netip.Addr]*address
	closed bool
}

// New returns a proxy forwarding ports (DefaultPorts when none are given). logger nil
// discards. It panics on a port outside 1–65535, a programming error.
func New(logger *slog.Logger, ports ...int) *Proxy {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(ports) == 0 {
		ports = DefaultPorts
	}
	for _, p := range ports {
		if p < 1 || p > 65535 {
			panic(fmt.Sprintf("fipproxy: port %d out of range", p))
		}
	}
	d := &net.Dialer{Timeout: dialTimeout}
	return &Proxy{
		log: logger, ports: append([]int(nil), ports...), addrs: map[netip.Addr]*address{},
		dial: func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
	}
}

// Stats are an address's counters since it was allocated.
type Stats struct {
	Target     string // current fixed IP, "" when detached
	Accepted   int64  // connections accepted on any port
	Reset      int64  // accepted while detached, reset at once
	DialFailed int64  // accepted, but the target did not answer
	Active     int64  // connections being forwarded now
	BytesIn    int64  // client → target, counted when a connection ends
	BytesOut   int64  // target → client, counted when a connection ends
}

// address is one allocated floating IP.
type address struct {
	ip        netip.Addr
	target    atomic.Pointer[netip.Addr] // nil: detached
	listeners []net.Listener
	ctx       context.Context // cancelled on release: aborts dials
	cancel    context.CancelFunc
	wg        sync.WaitGroup // accept loops and forwarders

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	accepted, reset, dialFailed, active, bytesIn, bytesOut atomic.Int64
}

// Set points floating address fip at fixedIP, allocating fip's listeners on first use;
// fixedIP "" detaches it. See the package comment for what happens to connections.
func (p *Proxy) Set(ctx context.Context, fip, fixedIP string) error {
	ip, err := netip.ParseAddr(fip)
	if err != nil {
		return fmt.Errorf("set floating IP %q: %w", fip, err)
	}
	var target *netip.Addr
	if fixedIP != "" {
		t, err := netip.ParseAddr(fixedIP)
		if err != nil {
			return fmt.Errorf("set floating IP %s: target %q: %w", fip, fixedIP, err)
		}
		target = &t
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("set floating IP %s: proxy closed", fip)
	}
	if a := p.addrs[ip]; a != nil {
		old := a.target.Swap(target)
		p.log.Debug("floating IP retargeted", "floating_ip", fip, "from", addrString(old), "to", fixedIP)
		return nil
	}
	a, err := p.listen(ctx, ip, target)
	if err != nil {
		return err
	}
	p.addrs[ip] = a
	return nil
}

// listen binds every port of ip, sets the first target and starts the accept loops.
// Caller holds p.mu.
func (p *Proxy) listen(ctx context.Context, ip netip.Addr, target *netip.Addr) (*address, error) {
	actx, cancel := context.WithCancel(context.Background())
	a := &address{ip: ip, ctx: actx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	var lc net.ListenConfig
	for _, port := range p.ports {
		ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
		if err != nil {
			cancel()
			for _, l := range a.listeners {
				_ = l.Close()
			}
			return nil, fmt.Errorf("allocate floating IP %s: %w", ip, err)
		}
		a.listeners = append(a.listeners, ln)
	}
	a.target.Store(target)
	for i, ln := range a.listeners {
		a.wg.Add(1)
		go p.acceptLoop(a, ln, p.ports[i])
	}
	p.log.Info("floating IP allocated", "floating_ip", ip.String(), "ports", p.ports, "target", addrString(target))
	return a, nil
}

func (p *Proxy) acceptLoop(a *address, ln net.Listener, port int) {
	defer a.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off a little, as net/http does.
			p.log.Warn("floating IP accept failed", "floating_ip", a.ip.String(), "port", port, "err", err)
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-a.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		a.accepted.Add(1)
		a.wg.Add(1)
		go p.forward(a, c, port)
	}
}

// forward connects client to the address's current target on port and copies both ways.
func (p *Proxy) forward(a *address, client net.Conn, port int) {
	defer a.wg.Done()
	target := a.target.Load()
	if target == nil {
		a.reset.Add(1)
		resetClose(client)
		return
	}
	var backend net.Conn
	for attempt := 1; ; attempt++ {
		dst := netip.AddrPortFrom(*target, uint16(port)).String()
		var err error
		backend, err = p.dial(a.ctx, dst)
		if err == nil {
			break
		}
		// Retargeted while this connection was being set up (the old server may be gone
		// already): its SYN would now reach the new target, so try that instead.
		now := a.target.Load()
		if now == nil || *now == *target || attempt == maxDialAttempts || a.ctx.Err() != nil {
			a.dialFailed.Add(1)
			p.log.Debug("floating IP target unreachable", "floating_ip", a.ip.String(), "target", dst, "err", err)
			resetClose(client)
			return
		}
		target = now
	}
	if !a.track(client, backend) {
		resetClose(client)
		_ = backend.Close()
		return
	}
	a.active.Add(1)
	defer a.active.Add(-1)
	defer a.untrack(client, backend)

	done := make(chan struct{})
	go func() {
		defer close(done)
		a.bytesIn.Add(pipe(backend, client))
	}()
	a.bytesOut.Add(pipe(client, backend))
	<-done
	_ = client.Close()
	_ = backend.Close()
}

// pipe copies src to dst. At src's end of stream it half-closes dst so the other side sees
// the EOF; on an error (a reset) it resets both, passing the failure on.
func pipe(dst, src net.Conn) int64 {
	n, err := io.Copy(dst, src)
	if err != nil {
		resetClose(dst)
		_ = src.Close()
		return n
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
	return n
}

// resetClose closes c with an RST instead of a FIN, so the peer fails at once.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// track registers forwarded connections so Release can cut them; false once released.
func (a *address) track(cs ...net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns == nil {
		return false
	}
	for _, c := range cs {
		a.conns[c] = struct{}{}
	}
	return true
}

func (a *address) untrack(cs ...net.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range cs {
		delete(a.conns, c)
	}
}

// shutdown closes a's listeners and connections and waits for its goroutines.
func (a *address) shutdown() {
	a.cancel()
	for _, ln := range a.listeners {
		_ = ln.Close()
	}
	a.mu.Lock()
	conns := a.conns
	a.conns = nil
	a.mu.Unlock()
	for c := range conns {
		resetClose(c)
	}
	a.wg.Wait()
}

// Release frees fip: its listeners close and connections through it are cut. Releasing an
// address that is not allocated is not an error.
func (p *Proxy) Release(fip string) error {
	ip, err := netip.ParseAddr(fip)
	if err != nil {
		return fmt.Errorf("release floating IP %q: %w", fip, err)
	}
	p.mu.Lock()
	a := p.addrs[ip]
	delete(p.addrs, ip)
	p.mu.Unlock()
	if a != nil {
		a.shutdown()
		p.log.Info("floating IP released", "floating_ip", fip)
	}
	return nil
}

// Target returns fip's current fixed IP ("" when detached) and whether fip is allocated.
func (p *Proxy) Target(fip string) (string, bool) {
	st, ok := p.Stats(fip)
	return st.Target, ok
}

// Stats returns fip's counters and whether fip is allocated.
func (p *Proxy) Stats(fip string) (Stats, bool) {
	ip, err := netip.ParseAddr(fip)
	if err != nil {
		return Stats{}, false
	}
	p.mu.Lock()
	a := p.addrs[ip]
	p.mu.Unlock()
	if a == nil {
		return Stats{}, false
	}
	return Stats{
		Target:     addrString(a.target.Load()),
		Accepted:   a.accepted.Load(),
		Reset:      a.reset.Load(),
		DialFailed: a.dialFailed.Load(),
		Active:     a.active.Load(),
		BytesIn:    a.bytesIn.Load(),
		BytesOut:   a.bytesOut.Load(),
	}, true
}

// Addresses lists the allocated floating IPs.
func (p *Proxy) Addresses() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.addrs))
	for ip := range p.addrs {
		out = append(out, ip.String())
	}
	return out
}

// Ports returns the forwarded ports.
func (p *Proxy) Ports() []int { return append([]int(nil), p.ports...) }

// Close releases every address; Set fails afterwards.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	addrs := p.addrs
	p.addrs = map[netip.Addr]*address{}
	p.mu.Unlock()
	for _, a := range addrs {
		a.shutdown()
	}
	return nil
}

func addrString(a *netip.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
