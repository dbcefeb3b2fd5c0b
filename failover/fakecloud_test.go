package failover

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
)

// fakeCloud is an in-memory cloud with real state (servers, ports, floating IPs with
// revisions), fault injection, and invariant checks after every change. It stands in for
// the simulator in the fast, many-seed tests; integration tests use the simulator.
type fakeCloud struct {
	mu      sync.Mutex
	rng     *rand.Rand
	nextID  int
	servers map[string]*fakeServer
	// deleted are tombstones, listed by ListServersChangedSince as DELETED.
	deleted map[string]*fakeServer
	fips    map[string]*openstack.FloatingIP
	// unhealthyImages boot servers that never pass a health check.
	unhealthyImages map[string]bool
	// gateFails makes the check through the address fail for servers of these images
	// (healthy on their own address, broken behind the floating IP).
	gateFails map[string]bool

	// Fault rates per call.
	pTransient, pBootFail, pStale float64

	// Invariants, checked when inv is set.
	inv                   bool
	group                 string
	count, surge, unavail int
	// shrinkFrom is the count before a shrink: until the removals at its end the group
	// may still have that many servers (plus surge).
	shrinkFrom int
	violations []string
	calls      int
}

type fakeServer struct {
	openstack.Server
	// outgoing marks a replacement whose slot's address moved back to an older server.
	outgoing bool
	port     string
	healthy  bool
	bootFail bool
}

func newFakeCloud(seed uint64) *fakeCloud {
	return &fakeCloud{
		rng:             rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		servers:         map[string]*fakeServer{},
		deleted:         map[string]*fakeServer{},
		fips:            map[string]*openstack.FloatingIP{},
		unhealthyImages: map[string]bool{},
		gateFails:       map[string]bool{},
	}
}

func (f *fakeCloud) id(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%04d-%s", prefix, f.nextID, strings.Repeat("0", 8))
}

func apiErr(status int, msg string) error {
	return &openstack.APIError{Method: "FAKE", URL: "fake://", Status: status, Message: msg}
}

// fault decides (under f.mu) whether this call fails transiently.
func (f *fakeCloud) fault() error {
	f.calls++
	if f.pTransient > 0 && f.rng.Float64() < f.pTransient {
		return apiErr(http.StatusServiceUnavailable, "injected fault")
	}
	return nil
}

func (f *fakeCloud) CreateServer(ctx context.Context, spec openstack.ServerSpec) (openstack.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return openstack.Server{}, err
	}
	id := f.id("srv")
	n := f.nextID
	s := &fakeServer{
		Server: openstack.Server{ID: id, Name: spec.Name, Status: "BUILD", ImageID: spec.ImageID, Metadata: spec.Metadata,
			AccessIP: fmt.Sprintf("10.0.%d.%d", n/250, n%250+1), Created: time.Unix(int64(n), 0)},
		port:     fmt.Sprintf("port%04d", n),
		healthy:  !f.unhealthyImages[spec.ImageID],
		bootFail: f.pBootFail > 0 && f.rng.Float64() < f.pBootFail,
	}
	f.servers[id] = s
	f.check("create " + spec.Name)
	return s.Server, nil
}

func (f *fakeCloud) WaitServerActive(ctx context.Context, id string) (openstack.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return openstack.Server{}, err
	}
	s, ok := f.servers[id]
	if !ok {
		return openstack.Server{}, openstack.Terminal(fmt.Errorf("server %s: %w", id, openstack.ErrNotFound))
	}
	if s.bootFail {
		s.Status = "ERROR"
		return s.Server, openstack.Terminal(fmt.Errorf("server %s went to ERROR: injected boot failure", id))
	}
	s.Status = "ACTIVE"
	f.check("active " + s.Name)
	return s.Server, nil
}

func (f *fakeCloud) ListServers(ctx context.Context, opts openstack.ListServersOpts) ([]openstack.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	var out []openstack.Server
	for _, s := range f.servers {
		if !strings.HasPrefix(s.Name, opts.NamePrefix) {
			continue
		}
		match := true
		for k, v := range opts.Metadata {
			if s.Metadata[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, s.Server)
		}
	}
	return out, nil
}

// ListServersChangedSince lists every matching server (more than changed since is
// allowed: the watcher must cope), each BUILD server finishing its boot as it is seen, as
// WaitServerActive does, and deleted ones as DELETED.
func (f *fakeCloud) ListServersChangedSince(ctx context.Context, opts openstack.ListServersOpts, since time.Time) ([]openstack.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	var out []openstack.Server
	for _, m := range []map[string]*fakeServer{f.servers, f.deleted} {
		for _, s := range m {
			if !strings.HasPrefix(s.Name, opts.NamePrefix) || !hasAll(s.Metadata, opts.Metadata) {
				continue
			}
			if s.Status == "BUILD" {
				s.Status = "ACTIVE"
				if s.bootFail {
					s.Status, s.Fault = "ERROR", "injected boot failure"
				}
				f.check("active " + s.Name)
			}
			out = append(out, s.Server)
		}
	}
	return out, nil
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeCloud) PortsOfServers(ctx context.Context, ids []string) (map[string][]openstack.Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	out := map[string][]openstack.Port{}
	for _, id := range ids {
		if s, ok := f.servers[id]; ok {
			out[id] = []openstack.Port{{ID: s.port, DeviceID: s.ID, FixedIPs: []string{s.AccessIP}}}
		}
	}
	return out, nil
}

func (f *fakeCloud) DeleteServer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return err
	}
	s, ok := f.servers[id]
	if !ok {
		return nil // the adapter treats 404 as done
	}
	delete(f.servers, id)
	tomb := *s
	tomb.Status = "DELETED"
	f.deleted[id] = &tomb
	// Neutron: the port goes with the server, and a floating IP on it is disassociated.
	for _, fip := range f.fips {
		if fip.PortID == s.port {
			fip.PortID, fip.FixedIP = "", ""
			fip.RevisionNumber++
		}
	}
	f.check("delete " + s.Name)
	return nil
}

func (f *fakeCloud) GetFloatingIP(ctx context.Context, id string) (openstack.FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return openstack.FloatingIP{}, err
	}
	fip, ok := f.fips[id]
	if !ok {
		return openstack.FloatingIP{}, apiErr(http.StatusNotFound, "no floating IP "+id)
	}
	return *fip, nil
}

func (f *fakeCloud) FindFloatingIP(ctx context.Context, address string) (openstack.FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fip := range f.fips {
		if fip.Address == address {
			return *fip, nil
		}
	}
	return openstack.FloatingIP{}, openstack.Terminal(fmt.Errorf("floating IP %s: %w", address, openstack.ErrNotFound))
}

func (f *fakeCloud) AllocateFloatingIP(ctx context.Context, network, description string) (openstack.FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.allocate(description), nil
}

func (f *fakeCloud) allocate(description string) openstack.FloatingIP {
	id := f.id("fip")
	fip := &openstack.FloatingIP{ID: id, Address: fmt.Sprintf("203.0.113.%d", len(f.fips)+10), Description: description, RevisionNumber: 1}
	f.fips[id] = fip
	return *fip
}

func (f *fakeCloud) ListFloatingIPs(ctx context.Context, opts openstack.ListFloatingIPsOpts) ([]openstack.FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []openstack.FloatingIP
	for _, fip := range f.fips {
		out = append(out, *fip)
	}
	return out, nil
}

func (f *fakeCloud) AssociateFloatingIP(ctx context.Context, fipID, portID string, revision int) (openstack.FloatingIP, error) {
	return f.update(fipID, portID, revision)
}

func (f *fakeCloud) DisassociateFloatingIP(ctx context.Context, fipID string, revision int) (openstack.FloatingIP, error) {
	return f.update(fipID, "", revision)
}

func (f *fakeCloud) update(fipID, portID string, revision int) (openstack.FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return openstack.FloatingIP{}, err
	}
	fip, ok := f.fips[fipID]
	if !ok {
		return openstack.FloatingIP{}, apiErr(http.StatusNotFound, "no floating IP "+fipID)
	}
	if f.pStale > 0 && f.rng.Float64() < f.pStale {
		fip.RevisionNumber++ // someone else edited it (its description) just now
	}
	if revision > 0 && revision != fip.RevisionNumber {
		return openstack.FloatingIP{}, fmt.Errorf("update floating IP %s: %w", fipID, &openstack.APIError{Status: http.StatusPreconditionFailed, Message: "revision mismatch"})
	}
	if from, to := f.serverOnPort(fip.PortID), f.serverOnPort(portID); from != nil && to != nil &&
		from.Metadata[MetaSlot] == to.Metadata[MetaSlot] && from.Created.After(to.Created) {
		from.outgoing = true
	}
	fip.PortID = portID
	fip.FixedIP = ""
	if s := f.serverOnPort(portID); s != nil {
		fip.FixedIP = s.AccessIP
	}
	fip.RevisionNumber++
	f.check("move " + fip.Address + " to " + portID)
	return *fip, nil
}

func (f *fakeCloud) PortsOfServer(ctx context.Context, serverID string) ([]openstack.Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	s, ok := f.servers[serverID]
	if !ok {
		return nil, nil
	}
	return []openstack.Port{{ID: s.port, DeviceID: s.ID, FixedIPs: []string{s.AccessIP}}}, nil
}

func (f *fakeCloud) serverOnPort(port string) *fakeServer {
	if port == "" {
		return nil
	}
	for _, s := range f.servers {
		if s.port == port {
			return s
		}
	}
	return nil
}

func (f *fakeCloud) serverAt(host string) *fakeServer {
	for _, s := range f.servers {
		if s.AccessIP == host {
			return s
		}
	}
	for _, fip := range f.fips {
		if fip.Address == host {
			return f.serverOnPort(fip.PortID)
		}
	}
	return nil
}

func (s *fakeServer) up() bool { return s.Status == "ACTIVE" && s.healthy }

// check records invariant violations (caller holds f.mu).
func (f *fakeCloud) check(after string) {
	if !f.inv {
		return
	}
	n, healthy := 0, 0
	newest := map[string]*fakeServer{} // per slot, the server created last
	for _, s := range f.servers {
		if s.Metadata[MetaGroup] != f.group {
			continue
		}
		n++
		if s.up() {
			healthy++
		}
		if cur := newest[s.Metadata[MetaSlot]]; cur == nil || s.Created.After(cur.Created) {
			newest[s.Metadata[MetaSlot]] = s
		}
	}
	// Surge counts servers in service or on their way into it: an old server whose
	// slot's replacement is up and that holds no address is only draining before its
	// delete (Kubernetes does not count terminating pods against maxSurge either).
	held := map[string]bool{}
	for _, fip := range f.fips {
		held[fip.PortID] = true
	}
	for _, s := range f.servers {
		if s.Metadata[MetaGroup] != f.group || held[s.port] {
			continue
		}
		// A replacement whose address went back to the older server (rolled back) is
		// on its way out too.
		if nw := newest[s.Metadata[MetaSlot]]; s.outgoing || (nw != s && nw.up()) {
			n--
		}
	}
	if n > max(f.count, f.shrinkFrom)+f.surge {
		f.violations = append(f.violations, fmt.Sprintf("after %s: %d servers > count %d + surge %d", after, n, max(f.count, f.shrinkFrom), f.surge))
	}
	if healthy < f.count-f.unavail {
		f.violations = append(f.violations, fmt.Sprintf("after %s: %d healthy servers < count %d - unavailable %d", after, healthy, f.count, f.unavail))
	}
	for _, fip := range f.fips {
		if fip.PortID == "" {
			continue
		}
		s := f.serverOnPort(fip.PortID)
		if s == nil || !s.up() {
			f.violations = append(f.violations, fmt.Sprintf("after %s: address %s points at port %s, which has no healthy server", after, fip.Address, fip.PortID))
		}
	}
}

// fakeProber is the health check: healthy when the server at host is ACTIVE and healthy.
type fakeProber struct{ f *fakeCloud }

func (p fakeProber) Probe(ctx context.Context, host string) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	s := p.f.serverAt(host)
	if s == nil || !s.up() {
		return fmt.Errorf("%s: not healthy", host)
	}
	return nil
}

func (p fakeProber) String() string { return "fake" }

// fakeGate checks through the address that the expected server answers.
type fakeGate struct{ f *fakeCloud }

func (g fakeGate) CheckAddress(ctx context.Context, address, serverID string) error {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	s := g.f.serverAt(address)
	switch {
	case s == nil:
		return fmt.Errorf("%s: nothing answers", address)
	case s.ID != serverID:
		return fmt.Errorf("%s: answered by %s, want %s", address, s.ID, serverID)
	case !s.up() || g.f.gateFails[s.ImageID]:
		return fmt.Errorf("%s: unhealthy", address)
	}
	return nil
}

func (f *fakeCloud) ReleaseFloatingIP(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return err
	}
	delete(f.fips, id)
	return nil
}
