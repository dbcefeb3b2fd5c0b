// Package docker is the simulator's driver for real hosts: every server is a container on a
// private Docker network of its own, booted from a local Docker image that stands for the
// Glance image, running sshd, apt and the workload behind the base image's init script.
//
// Entry point: New, which creates (or reuses) the instance's network; the *Driver then
// satisfies sim.Driver. Everything goes through the Docker Engine API.
//
//   - Boot creates the container with the server's fixed IP, copies the per-boot inputs into
//     it (instance id, authorized keys, user data, the workload's description, apt sources
//     and key of the local repository), starts it and waits for sshd and the workload.
//   - Reboot restarts the container: processes restart, the disk persists, /run (and the
//     /var/run symlink) is a tmpfs and comes back empty.
//   - Snapshot commits the container as remint/snapshot:<image id>.
//   - ConsoleLog is the container's output since creation; the init script prints the SSH
//     host key fingerprints there as cloud-init does (see ConsoleHostKeys).
//   - Floating IPs are host-side listeners on a loopback range (package fipproxy)
//     forwarding the workload port and SSH to the server's fixed IP.
//
// Servers want to run dockerd for the Docker-upgrade path, so containers are privileged.
// An engine that cannot grant every capability (runc: "unable to apply caps") gets the
// largest set it can: every capability but CAP_SYS_RESOURCE, unconfined seccomp, AppArmor and
// system paths. Driver.Privilege reports which one is in use.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/baseimage"
	"github.com/remint-dev/remint/internal/sim/fipproxy"
)

// Engine is the part of the Docker Engine API the driver uses; *client.Client satisfies it.
type Engine interface {
	baseimage.Engine
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRestart(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, networkID string) error
}

// Labels put on everything the driver creates.
const (
	LabelSim    = "remint.sim"    // the driver instance
	LabelServer = "remint.server" // the Nova server id
)

// SnapshotRepository is the image repository snapshots are committed to.
const SnapshotRepository = "remint/snapshot"

// Options configure New. The zero value works on a machine with a local Docker engine.
type Options struct {
	// Instance names the network and containers of this driver so that parallel simulators
	// do not collide; default a random id. A driver given the name of an existing network
	// reuses it.
	Instance string
	// Engine is the Docker Engine API; nil connects from the environment (DOCKER_HOST…).
	Engine Engine
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// BaseImage describes the seeded debian-12 image SeedImage ensures.
	BaseImage baseimage.Options
	// AptRepoURL is the local apt repository as servers reach it, e.g.
	// "http://10.231.5.1:34567/debian" (see Gateway); "" writes no apt source.
	AptRepoURL string
	// AptRepoKey is the repository's public key, armored or binary; nil trusts the
	// repository unsigned ("Trusted: yes").
	AptRepoKey []byte
	// FloatingIPPorts are forwarded from floating IPs to servers; default 8080 and 22.
	FloatingIPPorts []int
	// WorkloadPort is where the workload listens inside servers; default 8080.
	WorkloadPort int
	// BootTimeout bounds waiting for sshd and the workload after a start; default 2 minutes.
	BootTimeout time.Duration
	// StopTimeout is how long Delete and a soft Reboot wait after SIGTERM; default 10s.
	StopTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Instance == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Instance = hex.EncodeToString(b[:])
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.FloatingIPPorts) == 0 {
		o.FloatingIPPorts = []int{8080, 22}
	}
	if o.WorkloadPort == 0 {
		o.WorkloadPort = 8080
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 2 * time.Minute
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.BaseImage.Logger == nil {
		o.BaseImage.Logger = o.Logger
	}
	return o
}

// Driver runs servers as containers. Safe for concurrent use.
type Driver struct {
	opts     Options
	engine   Engine
	ownsConn io.Closer // the client New made, closed by Close
	log      *slog.Logger
	net      privateNetwork
	public   netip.Prefix
	fips     *fipproxy.Proxy

	mu        sync.Mutex
	aptURL    string
	aptKey    []byte
	privilege Privilege
	privErr   string // the engine's refusal of privileged containers, if seen
	seedRef   string
	closed    bool
}

var _ sim.Driver = (*Driver)(nil)

// New connects to the engine and creates (or reuses) the instance's private network.
func New(ctx context.Context, opts Options) (*Driver, error) {
	opts = opts.withDefaults()
	d := &Driver{opts: opts, engine: opts.Engine, log: opts.Logger.With("driver", "docker", "instance", opts.Instance),
		aptURL: opts.AptRepoURL, aptKey: opts.AptRepoKey, privilege: PrivilegeFull}
	if d.engine == nil {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("docker driver: connect to the Docker engine: %w", err)
		}
		d.engine, d.ownsConn = cli, cli
	}
	n, err := ensureNetwork(ctx, d.engine, opts.Instance, d.log)
	if err != nil {
		d.closeConn()
		return nil, err
	}
	d.net = n
	d.public = publicPlan(n.subnet)
	ports := bindablePorts(ctx, d.public.Addr().Next(), opts.FloatingIPPorts, d.log)
	if len(ports) == 0 {
		d.closeConn()
		return nil, errors.Join(fmt.Errorf("docker driver: none of the floating-IP ports %v can be bound on %s", opts.FloatingIPPorts, d.public), d.removeNetwork())
	}
	d.fips = fipproxy.New(d.log, ports...)
	return d, nil
}

func (d *Driver) closeConn() {
	if d.ownsConn != nil {
		_ = d.ownsConn.Close()
	}
}

// Name is "docker".
func (d *Driver) Name() string { return "docker" }

// AddressPlan returns the private network's subnet and the loopback range floating IPs
// listen on.
func (d *Driver) AddressPlan() (private, public netip.Prefix) { return d.net.subnet, d.public }

// Gateway is the host's address on the private network: where a host-side service (the apt
// repository) listens to be reachable from servers.
func (d *Driver) Gateway() netip.Addr { return d.net.gateway }

// NetworkName is the Docker network the servers are attached to.
func (d *Driver) NetworkName() string { return d.net.name }

// SetAptRepo changes the apt repository written into servers from now on (at boot and
// reboot), for when the repository starts after the driver (it listens on Gateway).
func (d *Driver) SetAptRepo(url string, key []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.aptURL, d.aptKey = url, append([]byte(nil), key...)
}

func (d *Driver) aptRepo() (string, []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aptURL, d.aptKey
}

// SeedImage builds the base image if this machine lacks it and returns its tag.
func (d *Driver) SeedImage(ctx context.Context) (string, error) {
	d.mu.Lock()
	ref := d.seedRef
	d.mu.Unlock()
	if ref != "" {
		return ref, nil
	}
	start := time.Now()
	ref, built, err := baseimage.Ensure(ctx, d.engine, d.opts.BaseImage)
	if err != nil {
		return "", fmt.Errorf("docker driver: ensure base image: %w", err)
	}
	if built {
		d.log.Info("base image built", "tag", ref, "took", time.Since(start).Round(time.Second))
	}
	d.mu.Lock()
	d.seedRef = ref
	d.mu.Unlock()
	return ref, nil
}

// SetFloatingIP points floating address fip at fixedIP ("" detaches it).
func (d *Driver) SetFloatingIP(ctx context.Context, fip, fixedIP string) error {
	return d.fips.Set(ctx, fip, fixedIP)
}

// ReleaseFloatingIP stops serving fip.
func (d *Driver) ReleaseFloatingIP(_ context.Context, fip string) error {
	return d.fips.Release(fip)
}

func (d *Driver) removeNetwork() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.engine.NetworkRemove(ctx, d.net.id); err != nil && !isNotFound(err) {
		return fmt.Errorf("docker driver: remove network %s: %w", d.net.name, err)
	}
	return nil
}

// bindablePorts drops the ports a floating IP cannot listen on because a host service holds
// them on every address (sshd on 0.0.0.0:22 refuses 127.x.y.z:22 to anyone else), probing
// on probe, an address of the floating-IP range that is never allocated. SSH then reaches
// servers on their fixed IPs only.
func bindablePorts(ctx context.Context, probe netip.Addr, ports []int, log *slog.Logger) []int {
	var lc net.ListenConfig
	var ok []int
	for _, port := range ports {
		ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(probe, uint16(port)).String())
		if err != nil {
			log.Warn("floating IPs will not forward this port: the host holds it", "port", port, "err", err)
			continue
		}
		_ = ln.Close()
		ok = append(ok, port)
	}
	return ok
}

// FloatingIPs exposes the floating-IP proxy, for its counters.
func (d *Driver) FloatingIPs() *fipproxy.Proxy { return d.fips }

// Close stops the floating-IP listeners, removes every container of this instance, the
// snapshots it committed (the simulator's Glance records of them end with it) and its
// network.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	defer d.closeConn()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs := []error{d.fips.Close()}
	list, err := d.engine.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelSim+"="+d.opts.Instance)),
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker driver: list containers of instance %s: %w", d.opts.Instance, err))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.removeContainer(ctx, c.ID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	snaps, err := d.engine.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelSim+"="+d.opts.Instance), filters.Arg("reference", SnapshotRepository))})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker driver: list snapshots of instance %s: %w", d.opts.Instance, err))
	}
	for _, img := range snaps {
		for _, tag := range img.RepoTags {
			errs = append(errs, d.DeleteImage(ctx, tag))
		}
	}
	errs = append(errs, d.removeNetwork())
	d.log.Info("docker driver closed", "containers_removed", len(list))
	return errors.Join(errs...)
}
