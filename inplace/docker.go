package inplace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/debian"
)

// DockerPackage is Debian's Docker engine package.
const DockerPackage = "docker.io"

// engineClient reaches the server's Docker engine through the SSH connection: the
// engine's unix socket is opened on the server by sshd (stream-local forwarding), so no
// TCP port is exposed. The API version is negotiated.
func engineClient(c Conn) (*client.Client, error) {
	return client.NewClientWithOpts(
		client.WithHost("http://docker.invalid"),
		client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.DialContext(ctx, "unix", "/var/run/docker.sock")
		}),
		client.WithAPIVersionNegotiation(),
	)
}

var userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)

// ensureDockerGroup lets the login user open the engine's socket (group docker). The
// user already has passwordless sudo, so this grants nothing new; it takes effect on
// the next login, so the caller reconnects when it reports a change.
// With dryRun it changes nothing and reports errNotInDockerGroup instead.
func ensureDockerGroup(ctx context.Context, c Conn, dryRun bool) (changed bool, err error) {
	res, err := c.Run(ctx, []string{"id", "-un"})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return false, fmt.Errorf("read the login user: %w", err)
	}
	user := strings.TrimSpace(res.Stdout)
	if !userRE.MatchString(user) {
		return false, fmt.Errorf("login user %q: not a valid user name", user)
	}
	res, err = c.Run(ctx, []string{"id", "-nG", user})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return false, fmt.Errorf("read groups of %s: %w", user, err)
	}
	for _, g := range strings.Fields(res.Stdout) {
		if g == "docker" {
			return false, nil
		}
	}
	if dryRun {
		return false, errNotInDockerGroup
	}
	res, err = c.Run(ctx, []string{"sudo", "-n", "usermod", "-aG", "docker", user})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return false, fmt.Errorf("add %s to group docker for the engine's socket: %w", user, err)
	}
	return true, nil
}

var errNotInDockerGroup = errors.New("the login user is not in group docker")

type runningContainer struct {
	id, name, restart string
}

// docker upgrades the engine package to exactly o.DockerVersion (no downgrade unless
// allowed), makes sure the engine restarted, verifies its version through the Engine
// API, and brings back every container that was running.
func (p *patcher) docker(ctx context.Context, c Conn, s Server) (*DockerResult, Conn, error) {
	want := p.o.DockerVersion
	if err := debian.ValidVersion(want); err != nil {
		return nil, c, fmt.Errorf("docker version from the manifest: %w", err)
	}
	vers, err := debian.Versions(ctx, c, []string{DockerPackage})
	if err != nil {
		return nil, c, err
	}
	cur := vers[DockerPackage]
	res := &DockerResult{From: cur, To: want, Containers: []ContainerResult{}}
	if cur == "" {
		return res, c, fmt.Errorf("%s is not installed on %s: --docker upgrades an installed engine", DockerPackage, s.Name)
	}
	if cur != want {
		older, err := debian.VersionLess(ctx, c, want, cur)
		if err != nil {
			return res, c, err
		}
		if older && !p.o.AllowDowngrade {
			return res, c, fmt.Errorf("%s %s on %s is newer than the manifest's %s: not downgrading without --allow-downgrade", DockerPackage, cur, s.Name, want)
		}
	}
	changed, err := ensureDockerGroup(ctx, c, p.o.DryRun)
	if errors.Is(err, errNotInDockerGroup) {
		// A dry run does not add the login user to group docker: the engine's API is not
		// read, the package versions say what would change.
		return res, c, nil
	}
	if err != nil {
		return res, c, err
	}
	if changed {
		c.Close()
		if c, err = p.dialer.Dial(ctx, s); err != nil {
			return res, nil, fmt.Errorf("reconnect to %s: %w", s.Name, err)
		}
	}
	api, err := engineClient(c)
	if err != nil {
		return res, c, err
	}
	defer api.Close()
	v, err := api.ServerVersion(ctx)
	if err != nil {
		return res, c, fmt.Errorf("read the Docker engine version on %s through its API: %w", s.Name, err)
	}
	res.EngineFrom = v.Version
	if cur == want {
		res.EngineTo = v.Version
		return res, c, nil
	}
	list, err := api.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return res, c, fmt.Errorf("list running containers on %s: %w", s.Name, err)
	}
	var running []runningContainer
	for _, ct := range list {
		ins, err := api.ContainerInspect(ctx, ct.ID)
		if err != nil {
			return res, c, fmt.Errorf("inspect container %s on %s: %w", ct.ID[:12], s.Name, err)
		}
		rc := runningContainer{id: ct.ID, name: strings.TrimPrefix(ins.Name, "/")}
		if ins.HostConfig != nil {
			rc.restart = string(ins.HostConfig.RestartPolicy.Name)
		}
		running = append(running, rc)
	}
	if p.o.DryRun {
		for _, rc := range running {
			res.Containers = append(res.Containers, ContainerResult{ID: rc.id[:12], Name: rc.name, Running: true})
		}
		return res, c, nil
	}
	pidBefore := dockerdPID(ctx, c)
	if err := debian.Update(ctx, c, p.o.LockTimeout); err != nil {
		return res, c, err
	}
	if _, err := debian.Install(ctx, c, []debian.Pin{{Name: DockerPackage, Version: want}},
		debian.InstallOptions{AllowDowngrade: p.o.AllowDowngrade, LockTimeout: p.o.LockTimeout}); err != nil {
		return res, c, err
	}
	res.Changed = true
	if err := waitEngine(ctx, api); err != nil {
		return res, c, fmt.Errorf("docker engine on %s after the upgrade: %w", s.Name, err)
	}
	if pid := dockerdPID(ctx, c); pid == "" || pid == pidBefore {
		// The package's maintainer scripts normally restart it; make sure.
		r, err := c.Run(ctx, []string{"sudo", "-n", "invoke-rc.d", "docker", "restart"})
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			return res, c, fmt.Errorf("restart the docker engine on %s: %w", s.Name, err)
		}
		if err := waitEngine(ctx, api); err != nil {
			return res, c, fmt.Errorf("docker engine on %s after its restart: %w", s.Name, err)
		}
	}
	res.EngineRestart = true
	vers, err = debian.Versions(ctx, c, []string{DockerPackage})
	if err != nil {
		return res, c, err
	}
	if vers[DockerPackage] != want {
		return res, c, fmt.Errorf("%s on %s is %q after the upgrade, want %s", DockerPackage, s.Name, vers[DockerPackage], want)
	}
	v, err = api.ServerVersion(ctx)
	if err != nil {
		return res, c, fmt.Errorf("read the Docker engine version on %s: %w", s.Name, err)
	}
	res.EngineTo = v.Version
	if v.Version != debian.Upstream(want) {
		return res, c, fmt.Errorf("the Docker engine on %s reports version %s through its API, want %s (package %s)", s.Name, v.Version, debian.Upstream(want), want)
	}
	var errs []error
	for _, rc := range running {
		cr, err := p.bringBack(ctx, api, rc)
		res.Containers = append(res.Containers, cr)
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s on %s: %w", rc.name, s.Name, err))
		}
	}
	return res, c, errors.Join(errs...)
}

func dockerdPID(ctx context.Context, c Conn) string {
	r, err := c.Run(ctx, []string{"pidof", "dockerd"})
	if err != nil || r.ExitStatus != 0 {
		return ""
	}
	return strings.TrimSpace(r.Stdout)
}

func waitEngine(ctx context.Context, api *client.Client) error {
	b := retry.WithMaxDuration(2*time.Minute, retry.WithCappedDuration(2*time.Second, retry.NewExponential(200*time.Millisecond)))
	return retry.Do(ctx, b, func(ctx context.Context) error {
		if _, err := api.Ping(ctx); err != nil {
			return retry.RetryableError(err)
		}
		return nil
	})
}

// bringBack waits for a container that was running to run again: its restart policy
// normally does it; when the policy would not (none, on-failure) and it is still down
// after the engine is back, remint starts it.
func (p *patcher) bringBack(ctx context.Context, api *client.Client, rc runningContainer) (ContainerResult, error) {
	cr := ContainerResult{ID: rc.id[:12], Name: rc.name}
	autoRestart := rc.restart == "always" || rc.restart == "unless-stopped"
	b := retry.WithMaxDuration(time.Minute, retry.WithCappedDuration(time.Second, retry.NewExponential(100*time.Millisecond)))
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		ins, err := api.ContainerInspect(ctx, rc.id)
		if err != nil {
			return retry.RetryableError(err)
		}
		if ins.State != nil && ins.State.Running {
			cr.Running = true
			start, _ := time.Parse(time.RFC3339Nano, ins.State.StartedAt)
			stop, _ := time.Parse(time.RFC3339Nano, ins.State.FinishedAt)
			if !start.IsZero() && !stop.IsZero() && start.After(stop) {
				cr.Downtime = start.Sub(stop)
			}
			return nil
		}
		if !autoRestart && !cr.RestartedByRemint {
			if err := api.ContainerStart(ctx, rc.id, container.StartOptions{}); err != nil {
				return retry.RetryableError(fmt.Errorf("start: %w", err))
			}
			cr.RestartedByRemint = true
		}
		return retry.RetryableError(errors.New("not running yet"))
	})
	if err != nil {
		return cr, fmt.Errorf("not running again after the engine upgrade: %w", err)
	}
	return cr, nil
}
