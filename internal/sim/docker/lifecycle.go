package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/remint-dev/remint/internal/sim/baseimage"
)

// errNoServer marks a server that has no container.
var errNoServer = errors.New("no container")

// inspectServer returns the container of serverID.
func (d *Driver) inspectServer(ctx context.Context, serverID string) (container.InspectResponse, error) {
	name := containerName(d.opts.Instance, serverID)
	c, err := d.engine.ContainerInspect(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return c, fmt.Errorf("server %s: %w", serverID, errNoServer)
		}
		return c, fmt.Errorf("inspect container %s: %w", name, err)
	}
	return c, nil
}

// fixedIP is the server's address on the private network, invalid when it has none.
func (d *Driver) fixedIP(c container.InspectResponse) netip.Addr {
	if c.NetworkSettings == nil {
		return netip.Addr{}
	}
	ep := c.NetworkSettings.Networks[d.net.name]
	if ep == nil {
		return netip.Addr{}
	}
	if ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address != "" {
		if a, err := netip.ParseAddr(ep.IPAMConfig.IPv4Address); err == nil {
			return a
		}
	}
	a, _ := netip.ParseAddr(ep.IPAddress)
	return a
}

// Delete stops the server (SIGTERM, then SIGKILL after StopTimeout) and removes its
// container and volumes. An unknown server is not an error.
func (d *Driver) Delete(ctx context.Context, serverID string) error {
	c, err := d.inspectServer(ctx, serverID)
	if errors.Is(err, errNoServer) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete server %s: %w", serverID, err)
	}
	if err := d.removeContainer(ctx, c.ID); err != nil {
		return fmt.Errorf("delete server %s: %w", serverID, err)
	}
	d.log.Info("server container removed", "server", serverID)
	return nil
}

// removeContainer stops a container gracefully and removes it with its anonymous volumes.
func (d *Driver) removeContainer(ctx context.Context, id string) error {
	secs := int(d.opts.StopTimeout / time.Second)
	if err := d.engine.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil && !isNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if err := d.engine.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// Reboot restarts the server's container: a soft reboot sends SIGTERM and waits up to
// StopTimeout, a hard one kills at once. The disk persists; /run comes back empty. The apt
// sources are rewritten first, as the repository may have moved. Returns once sshd and the
// workload answer again.
func (d *Driver) Reboot(ctx context.Context, serverID string, hard bool) error {
	c, err := d.inspectServer(ctx, serverID)
	if err != nil {
		return fmt.Errorf("reboot server %s: %w", serverID, err)
	}
	if url, key := d.aptRepo(); url != "" {
		archive, err := tarFiles(aptFiles(url, key), time.Now())
		if err != nil {
			return fmt.Errorf("reboot server %s: %w", serverID, err)
		}
		if err := d.engine.CopyToContainer(ctx, c.ID, "/", archive, container.CopyToContainerOptions{}); err != nil {
			return fmt.Errorf("reboot server %s: rewrite apt sources: %w", serverID, err)
		}
	}
	secs := int(d.opts.StopTimeout / time.Second)
	if hard {
		secs = 0
	}
	started := time.Now()
	if err := d.engine.ContainerRestart(ctx, c.ID, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("reboot server %s: restart container: %w", serverID, err)
	}
	d.log.Info("server container restarted", "server", serverID, "hard", hard)
	return d.waitReady(ctx, serverID, c.ID, d.fixedIP(c), started)
}

// Snapshot commits the server's disk (not /run, not /var/lib/docker) as
// remint/snapshot:<imageID> and returns that tag. The container is paused while committing,
// as a crash-consistent cloud snapshot would be.
func (d *Driver) Snapshot(ctx context.Context, serverID, imageID string) (string, error) {
	c, err := d.inspectServer(ctx, serverID)
	if err != nil {
		return "", fmt.Errorf("snapshot server %s: %w", serverID, err)
	}
	ref := SnapshotRepository + ":" + imageID
	if _, err := d.engine.ContainerCommit(ctx, c.ID, container.CommitOptions{
		Reference: ref,
		Comment:   "snapshot of server " + serverID,
		Pause:     true,
		// The label lets Close remove the snapshots of this instance: its Glance goes with it.
		Changes: []string{`CMD ["` + baseimage.InitPath + `"]`, "LABEL " + LabelSim + "=" + d.opts.Instance},
	}); err != nil {
		return "", fmt.Errorf("snapshot server %s as %s: %w", serverID, ref, err)
	}
	d.log.Info("server snapshot committed", "server", serverID, "image", ref)
	return ref, nil
}

// DeleteImage removes a snapshot committed by Snapshot, for when its Glance image is
// deleted. Other references (the base image) are left alone, as is a snapshot a server still
// runs from; an image already gone is not an error.
func (d *Driver) DeleteImage(ctx context.Context, ref string) error {
	if !strings.HasPrefix(ref, SnapshotRepository+":") {
		return nil
	}
	if _, err := d.engine.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete image %s: %w", ref, err)
	}
	d.log.Info("snapshot image removed", "image", ref)
	return nil
}

// ConsoleLog returns everything the server printed since its container was created, across
// reboots.
func (d *Driver) ConsoleLog(ctx context.Context, serverID string) (string, error) {
	c, err := d.inspectServer(ctx, serverID)
	if err != nil {
		return "", fmt.Errorf("console log of server %s: %w", serverID, err)
	}
	out, err := d.console(ctx, c.ID, container.LogsOptions{})
	if err != nil {
		return "", fmt.Errorf("console log of server %s: %w", serverID, err)
	}
	return out, nil
}

// console reads the container's stdout and stderr interleaved as written, limited by opts
// (Since, Tail).
func (d *Driver) console(ctx context.Context, id string, opts container.LogsOptions) (string, error) {
	opts.ShowStdout, opts.ShowStderr = true, true
	rc, err := d.engine.ContainerLogs(ctx, id, opts)
	if err != nil {
		return "", fmt.Errorf("read logs of container %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return "", fmt.Errorf("read logs of container %s: %w", id, err)
	}
	return buf.String(), nil
}
