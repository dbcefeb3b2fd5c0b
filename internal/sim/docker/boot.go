package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/sethvargo/go-retry"
)

// Privilege is how much of the host a server's container may use.
type Privilege string

const (
	// PrivilegeFull is a privileged container.
	PrivilegeFull Privilege = "privileged"
	// PrivilegeCapabilities is the fallback when the engine refuses privileged containers:
	// every capability but CAP_SYS_RESOURCE, with seccomp, AppArmor and masked paths off.
	PrivilegeCapabilities Privilege = "capabilities"
)

// fallbackCaps is every Linux capability older engines know (Docker 20.10 rejects
// CAP_PERFMON, CAP_BPF and CAP_CHECKPOINT_RESTORE; CAP_SYS_ADMIN still grants what they
// split off) except CAP_SYS_RESOURCE, which engines running in a restricted parent (a
// bounding set without it) cannot hand out.
var fallbackCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
}

// ulimitHook is sourced by every sysvinit script (through /lib/lsb/init-functions) in a
// server without full privilege. Without CAP_SYS_RESOURCE nothing in the server can raise a
// limit above its hard limit, and Debian's /etc/init.d/docker starts with
// "ulimit -n 1048576": the hook turns such a request into "as high as allowed" so the
// engine's own init script works. It is not a conffile of any package, so installing or
// upgrading docker.io leaves it alone.
var ulimitHook = file{"/lib/lsb/init-functions.d/90-remint-ulimit", 0o644, []byte(`# Written by the remint simulator: this server's container lacks CAP_SYS_RESOURCE, so a
# resource limit cannot be raised above its hard limit. Raise it as far as allowed instead.
ulimit() {
	command ulimit "$@" 2>/dev/null && return 0
	if [ $# -eq 2 ]; then
		command ulimit "$1" "$(command ulimit -H "$1")"
	else
		command ulimit "$@"
	fi
}
`)}

// Privilege reports the privilege servers get, and the engine's refusal of privileged
// containers if that is why it is not PrivilegeFull.
func (d *Driver) Privilege() (Privilege, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.privilege, d.privErr
}

func containerName(instance, serverID string) string {
	return "remint-" + instance + "-" + serverID
}

// Boot creates and starts the server's container and waits for sshd and the workload.
func (d *Driver) Boot(ctx context.Context, spec sim.BootSpec) error {
	host := hostname(spec.Name)
	aptURL, aptKey := d.aptRepo()
	files, err := bootFiles(spec, host, d.opts.WorkloadPort, aptURL, aptKey)
	if err != nil {
		return fmt.Errorf("boot server %s: %w", spec.ServerID, err)
	}
	var ip netip.Addr
	if spec.FixedIP != "" {
		if ip, err = netip.ParseAddr(spec.FixedIP); err != nil {
			return fmt.Errorf("boot server %s: fixed IP %q: %w", spec.ServerID, spec.FixedIP, err)
		}
	}
	d.mu.Lock()
	priv := d.privilege
	d.mu.Unlock()
	started := time.Now()
	id, err := d.createAndStart(ctx, spec, host, ip, files, priv)
	if err != nil && priv == PrivilegeFull && isCapsRefusal(err) {
		d.mu.Lock()
		d.privilege, d.privErr = PrivilegeCapabilities, err.Error()
		d.mu.Unlock()
		d.log.Warn("engine refuses privileged containers; servers get every capability it can grant instead",
			"err", err, "missing", "CAP_SYS_RESOURCE")
		id, err = d.createAndStart(ctx, spec, host, ip, files, PrivilegeCapabilities)
	}
	if err != nil {
		return err
	}
	d.log.Info("server container started", "server", spec.ServerID, "container", id[:12], "ip", spec.FixedIP, "image", spec.ImageRef)
	return d.waitReady(ctx, spec.ServerID, id, ip, started)
}

// isCapsRefusal recognises runc failing to apply a capability the engine does not hold.
func isCapsRefusal(err error) bool {
	return strings.Contains(err.Error(), "unable to apply caps") ||
		strings.Contains(err.Error(), "apply caps: operation not permitted")
}

// createAndStart creates the container, copies the boot files in and starts it. A container
// that fails to start is removed, so the caller may retry with other settings.
func (d *Driver) createAndStart(ctx context.Context, spec sim.BootSpec, host string, ip netip.Addr, files []file, priv Privilege) (string, error) {
	name := containerName(d.opts.Instance, spec.ServerID)
	cfg := &container.Config{
		Image:    spec.ImageRef,
		Hostname: host,
		Labels:   map[string]string{LabelSim: d.opts.Instance, LabelServer: spec.ServerID},
	}
	init := true
	hc := &container.HostConfig{
		Init: &init,
		// A fresh /run at every start is what makes a restart a reboot (/var/run links here).
		Tmpfs: map[string]string{"/run": "rw,exec,nosuid,nodev,mode=0755"},
		// dockerd inside cannot keep its layers on the container's own overlay filesystem.
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Target: "/var/lib/docker"}},
	}
	switch priv {
	case PrivilegeFull:
		hc.Privileged = true
	case PrivilegeCapabilities:
		hc.CapAdd = fallbackCaps
		hc.SecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}
		// What the CLI's --security-opt systempaths=unconfined sends: nothing masked.
		hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{}
	}
	var nc *network.NetworkingConfig
	if ip.IsValid() {
		hc.NetworkMode = container.NetworkMode(d.net.name)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			d.net.name: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip.String()}},
		}}
	} else {
		hc.NetworkMode = "none"
	}
	created, err := d.engine.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil {
		return "", fmt.Errorf("boot server %s: create container from %s: %w", spec.ServerID, spec.ImageRef, err)
	}
	fail := func(err error) (string, error) {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return "", errors.Join(err, d.removeContainer(rmCtx, created.ID))
	}
	if priv == PrivilegeCapabilities {
		files = append(slices.Clone(files), ulimitHook)
	}
	archive, err := tarFiles(files, time.Now())
	if err != nil {
		return fail(fmt.Errorf("boot server %s: %w", spec.ServerID, err))
	}
	if err := d.engine.CopyToContainer(ctx, created.ID, "/", archive, container.CopyToContainerOptions{}); err != nil {
		return fail(fmt.Errorf("boot server %s: copy boot files: %w", spec.ServerID, err))
	}
	if err := d.engine.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return fail(fmt.Errorf("boot server %s: start container %s (%s): %w", spec.ServerID, name, priv, err))
	}
	return created.ID, nil
}

// bootFinished is what the init script prints once sshd and the workload are launched.
const bootFinished = "remint-init: boot finished"

// waitReady waits until the init script has finished the boot begun at since, then until
// sshd and the workload answer on ip. Watching the console first keeps the probes (each
// one a line in sshd's log) to a handful. A server without an address is ready once its
// init script has finished.
func (d *Driver) waitReady(ctx context.Context, serverID, containerID string, ip netip.Addr, since time.Time) error {
	b := retry.WithMaxDuration(d.opts.BootTimeout, retry.WithCappedDuration(time.Second, retry.NewExponential(100*time.Millisecond)))
	var last error
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		st, err := d.engine.ContainerInspect(ctx, containerID)
		if err != nil {
			return fmt.Errorf("inspect container: %w", err)
		}
		if st.State == nil || !st.State.Running {
			code := -1
			if st.State != nil {
				code = st.State.ExitCode
			}
			return fmt.Errorf("container exited with status %d; console:\n%s", code, d.consoleTail(ctx, containerID))
		}
		booted, err := d.consoleSince(ctx, containerID, since)
		if err != nil {
			return err
		}
		if !strings.Contains(booted, bootFinished) {
			last = errors.New("init script has not finished booting")
			return retry.RetryableError(last)
		}
		if !ip.IsValid() {
			return nil
		}
		if err := httpAnswers(ctx, netip.AddrPortFrom(ip, uint16(d.opts.WorkloadPort))); err != nil {
			last = err
			return retry.RetryableError(err)
		}
		if err := sshBanner(ctx, netip.AddrPortFrom(ip, 22)); err != nil {
			last = err
			return retry.RetryableError(err)
		}
		return nil
	})
	if err != nil {
		if last != nil && errors.Is(err, last) {
			err = fmt.Errorf("%w (after %s); console:\n%s", err, d.opts.BootTimeout, d.consoleTail(ctx, containerID))
		}
		return fmt.Errorf("boot server %s: wait for sshd and workload: %w", serverID, err)
	}
	return nil
}

// sshBanner checks that an SSH server greets on addr.
func sshBanner(ctx context.Context, addr netip.AddrPort) error {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var dialer net.Dialer
	c, err := dialer.DialContext(dctx, "tcp", addr.String())
	if err != nil {
		return fmt.Errorf("sshd on %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("sshd on %s: read banner: %w", addr, err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("sshd on %s: unexpected banner %q", addr, strings.TrimSpace(line))
	}
	return nil
}

// httpAnswers checks that the workload answers /healthz on addr; any HTTP status counts, an
// unhealthy server is still a booted one.
func httpAnswers(ctx context.Context, addr netip.AddrPort) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+addr.String()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return fmt.Errorf("workload on %s: %w", addr, err)
	}
	resp.Body.Close()
	return nil
}

// consoleSince is what the container printed since t.
func (d *Driver) consoleSince(ctx context.Context, containerID string, t time.Time) (string, error) {
	return d.console(ctx, containerID, container.LogsOptions{
		Since: strconv.FormatInt(t.Unix(), 10) + "." + fmt.Sprintf("%09d", t.Nanosecond()),
	})
}

// consoleTail is the end of the console log, for error messages.
func (d *Driver) consoleTail(ctx context.Context, containerID string) string {
	out, err := d.console(ctx, containerID, container.LogsOptions{Tail: "60"})
	if err != nil {
		return "(console unavailable: " + err.Error() + ")"
	}
	return out
}
