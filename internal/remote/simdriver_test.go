package remote

import (
	"context"
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/fipproxy"
	"github.com/remint-dev/remint/internal/sim/simtest"
)

// sshDriver is a simulator driver whose servers are real in-process SSH servers on their
// own 127.x fixed address, printing their host keys to the console as cloud-init does.
// Floating IPs are real listeners (fipproxy) forwarding the SSH port to their server.
type sshDriver struct {
	private, public netip.Prefix
	port            int
	proxy           *fipproxy.Proxy

	mu      sync.Mutex
	opts    map[string]bootOpts // by server name
	servers map[string]*simServer
	reads   map[string]int // console reads per server id
}

// bootOpts make one server (by name) misbehave.
type bootOpts struct {
	keysAfter time.Duration // the console shows the host keys only this long after boot
	sshAfter  time.Duration // sshd listens only this long after boot
	impostor  bool          // sshd offers a key other than the one on the console
	noKeys    bool          // the console never shows host keys
}

type simServer struct {
	name, fixed string
	booted      time.Time
	hostKey     ssh.Signer // what the console shows
	opts        bootOpts
	authorized  ssh.PublicKey

	mu      sync.Mutex
	ssh     *testServer
	stopped bool
}

var _ sim.Driver = (*sshDriver)(nil)

func newSSHDriver() *sshDriver {
	// A /24 pair and a port of their own: other tests' simulators use other addresses or
	// ports of 127.0.0.0/8, so a clash is as unlikely as it is loud (bind fails).
	a, b := 64+rand.IntN(180), rand.IntN(250)
	port := 20000 + rand.IntN(30000)
	return &sshDriver{
		private: netip.MustParsePrefix(fmt.Sprintf("127.%d.%d.0/24", a, b)),
		public:  netip.MustParsePrefix(fmt.Sprintf("127.%d.%d.0/24", a, b+1)),
		port:    port,
		proxy:   fipproxy.New(nil, port),
		opts:    map[string]bootOpts{},
		servers: map[string]*simServer{},
		reads:   map[string]int{},
	}
}

func (d *sshDriver) Name() string                               { return "ssh-test" }
func (d *sshDriver) AddressPlan() (netip.Prefix, netip.Prefix)  { return d.private, d.public }
func (d *sshDriver) SeedImage(context.Context) (string, error)  { return "ssh-test:debian-12", nil }
func (d *sshDriver) Reboot(context.Context, string, bool) error { return nil }
func (d *sshDriver) ReleaseFloatingIP(_ context.Context, fip string) error {
	return d.proxy.Release(fip)
}
func (d *sshDriver) Snapshot(_ context.Context, id, _ string) (string, error) {
	return "ssh-test:" + id, nil
}

func (d *sshDriver) SetFloatingIP(ctx context.Context, fip, fixedIP string) error {
	return d.proxy.Set(ctx, fip, fixedIP)
}

func (d *sshDriver) Boot(_ context.Context, spec sim.BootSpec) error {
	authorized, _, _, _, err := ssh.ParseAuthorizedKey([]byte(spec.PublicKey))
	if err != nil {
		return fmt.Errorf("boot %s: keypair: %w", spec.Name, err)
	}
	d.mu.Lock()
	s := &simServer{name: spec.Name, fixed: spec.FixedIP, booted: time.Now(), hostKey: mustSigner(), opts: d.opts[spec.Name], authorized: authorized}
	d.servers[spec.ServerID] = s
	d.mu.Unlock()
	if s.opts.sshAfter > 0 {
		time.AfterFunc(s.opts.sshAfter, func() { _ = s.start(d.port) })
		return nil
	}
	return s.start(d.port)
}

func (s *simServer) start(port int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	key := s.hostKey
	if s.opts.impostor {
		key = mustSigner()
	}
	srv, err := listenSSH(net.JoinHostPort(s.fixed, strconv.Itoa(port)), key, s.authorized, "TEST_SERVER="+s.name)
	if err != nil {
		return fmt.Errorf("boot %s: sshd: %w", s.name, err)
	}
	s.ssh = srv
	return nil
}

func (s *simServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.ssh != nil {
		s.ssh.Close()
	}
}

func (d *sshDriver) Delete(_ context.Context, id string) error {
	d.mu.Lock()
	s := d.servers[id]
	delete(d.servers, id)
	d.mu.Unlock()
	if s != nil {
		s.stop()
	}
	return nil
}

func (d *sshDriver) ConsoleLog(_ context.Context, id string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.servers[id]
	if s == nil {
		return "", fmt.Errorf("server %s is not running", id)
	}
	d.reads[id]++
	log := "[    0.000000] Linux version 6.1.0-28-cloud-amd64\nCloud-init v. 22.4.2 running 'init' at boot\n"
	if !s.opts.noKeys && time.Since(s.booted) >= s.opts.keysAfter {
		log += indent("ci-info: ", FormatConsoleHostKeys(s.name, []ssh.PublicKey{s.hostKey.PublicKey()}))
	}
	return log + "Cloud-init v. 22.4.2 finished\n", nil
}

func (d *sshDriver) Close() error {
	d.mu.Lock()
	servers := d.servers
	d.servers = map[string]*simServer{}
	d.mu.Unlock()
	for _, s := range servers {
		s.stop()
	}
	return d.proxy.Close()
}

// consoleReads is how often the cloud was asked for server id's console.
func (d *sshDriver) consoleReads(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads[id]
}

func mustSigner() ssh.Signer {
	_, priv, err := ed25519.GenerateKey(cryptorand.Reader)
	if err != nil {
		panic(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		panic(err)
	}
	return s
}

// simWorld is a seeded simulator running sshDriver, with the real adapter connected over
// HTTP and the seeded keypair's private key to log in with.
type simWorld struct {
	d      *sshDriver
	cloud  *openstack.Client
	signer ssh.Signer
	seed   *sim.SeedResult
}

func startSimWorld(t *testing.T) *simWorld {
	t.Helper()
	d := newSSHDriver()
	s, seed := simtest.StartSeeded(t, sim.Config{Driver: d, BootTime: 10 * time.Millisecond})
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(clouds, s.CloudsYAML(""), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: sim.DefaultCloudName, CloudsFile: clouds})
	require.NoError(t, err)
	signer, err := ParseSigner(seed.KeypairPrivateKey)
	require.NoError(t, err)
	return &simWorld{d: d, cloud: cl, signer: signer, seed: seed}
}

// boot creates a server with the seeded keypair and waits for it to be ACTIVE.
func (w *simWorld) boot(t *testing.T, ctx context.Context, name string, opts bootOpts) openstack.Server {
	t.Helper()
	w.d.mu.Lock()
	w.d.opts[name] = opts
	w.d.mu.Unlock()
	s, err := w.cloud.CreateServer(ctx, openstack.ServerSpec{
		Name: name, ImageID: w.seed.ImageID, Flavor: "m1.small", Network: sim.SeedPrivateNetwork, KeyName: sim.SeedKeypairName,
	})
	require.NoError(t, err)
	s, err = w.cloud.WaitServerActive(ctx, s.ID)
	require.NoError(t, err)
	require.NotEmpty(t, s.AccessIP)
	return s
}

// access is an Access that trusts console keys, on the driver's SSH port.
func (w *simWorld) access() *Access {
	return &Access{Cloud: w.cloud, User: "debian", Signer: w.signer, Port: w.d.port, Timeout: 5 * time.Second}
}

// whoami runs a command that prints the name of the server it ran on.
func whoami(t *testing.T, ctx context.Context, c *Client) string {
	t.Helper()
	res, err := c.Run(ctx, []string{"sh", "-c", `echo "$TEST_SERVER"`})
	require.NoError(t, err)
	require.NoError(t, res.Err())
	return res.Stdout
}
