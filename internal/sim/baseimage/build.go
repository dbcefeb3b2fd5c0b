package baseimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// buildRootfs debootstraps, customises and imports the root filesystem stage as tag.
func buildRootfs(ctx context.Context, engine Engine, opts Options, tag string) (err error) {
	log := opts.Logger
	if os.Geteuid() != 0 {
		return fmt.Errorf("build base image %s: debootstrap needs root", tag)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("build base image %s: %w", tag, ErrNoDebootstrap)
	}
	debs := filepath.Join(opts.CacheDir, "debs")
	builds := filepath.Join(opts.CacheDir, "build")
	for _, d := range []string{debs, builds} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("build base image %s: create cache directory: %w", tag, err)
		}
	}
	dir, err := os.MkdirTemp(builds, "rootfs-")
	if err != nil {
		return fmt.Errorf("build base image %s: create build directory: %w", tag, err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	defer func() {
		if cerr := removeBuildDir(dir); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	start := time.Now()
	log.Info("debootstrap", "suite", opts.Suite, "mirror", opts.Mirror, "target", rootfs)
	args := []string{
		"--variant=minbase",
		"--cache-dir=" + debs,
		"--include=" + strings.Join(opts.Packages, ","),
		opts.Suite, rootfs, opts.Mirror,
	}
	if err := run(ctx, filepath.Join(dir, "debootstrap.log"), "debootstrap", args...); err != nil {
		return fmt.Errorf("build base image %s: %w", tag, err)
	}
	log.Info("debootstrap done", "took", time.Since(start).Round(time.Second))

	if err := customize(ctx, rootfs, dir); err != nil {
		return fmt.Errorf("build base image %s: customise root filesystem: %w", tag, err)
	}
	start = time.Now()
	if err := importRootfs(ctx, engine, rootfs, tag, opts.RecipeHash()); err != nil {
		return fmt.Errorf("build base image %s: %w", tag, err)
	}
	log.Info("root filesystem imported", "tag", tag, "took", time.Since(start).Round(time.Second))
	return nil
}

// run runs a fixed command, keeping its output in logPath and quoting its tail on failure.
func run(ctx context.Context, logPath, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", logPath, err)
	}
	defer f.Close()
	var tail tailBuffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = io.MultiWriter(f, &tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w; last output:\n%s", name, err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const keep = 4096
	t.b = append(t.b, p...)
	if len(t.b) > keep {
		t.b = t.b[len(t.b)-keep:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// sshdConfig makes sshd behave as on a cloud image: keys only.
const sshdConfig = `# remint base image: key authentication only, as on Debian's cloud images.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
`

// customize turns a minbase tree into a cloud-image-like root filesystem.
func customize(ctx context.Context, rootfs, dir string) error {
	p := func(rel string) string { return filepath.Join(rootfs, rel) }
	if err := run(ctx, filepath.Join(dir, "useradd.log"), "chroot", rootfs,
		"useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", DefaultUser); err != nil {
		return fmt.Errorf("create user %s: %w", DefaultUser, err)
	}
	files := []struct {
		path string
		mode os.FileMode
		data []byte
	}{
		{InitPath, 0o755, initScript},
		{"/etc/ssh/sshd_config.d/remint.conf", 0o644, []byte(sshdConfig)},
		{"/etc/sudoers.d/90-remint-" + DefaultUser, 0o440, []byte(DefaultUser + " ALL=(ALL) NOPASSWD:ALL\n")},
		// systemd-less image: an empty machine-id is what cloud images ship and regenerate.
		{"/etc/machine-id", 0o444, nil},
		// remint-init runs everything at runlevel 2; invoke-rc.d asks.
		{"/sbin/runlevel", 0o755, []byte("#!/bin/sh\n# remint base image: remint-init is a sysvinit-style init, always at runlevel 2.\necho N 2\n")},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(p(f.path)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p(f.path), f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p(f.path), f.mode); err != nil {
			return err
		}
	}
	// The init system: invoke-rc.d only lets package scripts start and restart services
	// when /sbin/init exists.
	if err := os.Symlink(InitPath, p("/sbin/init")); err != nil {
		return fmt.Errorf("link /sbin/init: %w", err)
	}
	for _, d := range []string{"/etc/remint", "/var/lib/cloud/instance"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			return err
		}
	}
	// Apt sources point only at the local repository, written at boot; host keys are made
	// per instance at boot; package downloads and lists are not part of an image.
	remove := []string{"/etc/apt/sources.list"}
	for _, pattern := range []string{"/etc/ssh/ssh_host_*", "/var/cache/apt/archives/*.deb", "/var/lib/apt/lists/*_*", "/etc/apt/sources.list.d/*"} {
		m, err := filepath.Glob(p(pattern))
		if err != nil {
			return err
		}
		for _, f := range m {
			remove = append(remove, strings.TrimPrefix(f, rootfs))
		}
	}
	for _, f := range remove {
		if err := os.Remove(p(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// importRootfs streams the tree as a tar archive into the engine's image import.
func importRootfs(ctx context.Context, engine Engine, rootfs, tag, recipe string) error {
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
		"-C", rootfs, "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "-cf", "-", ".")
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("tar root filesystem: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tar root filesystem: %w", err)
	}
	resp, err := engine.ImageImport(ctx, image.ImportSource{Source: out, SourceName: "-"}, tag, image.ImportOptions{
		Message: "remint debian-12 root filesystem, recipe " + recipe,
		Changes: []string{
			`CMD ["` + InitPath + `"]`,
			"LABEL remint.recipe=" + recipe,
		},
	})
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("import root filesystem as %s: %w", tag, err)
	}
	streamErr := readJSONStream(resp)
	resp.Close()
	if werr := cmd.Wait(); werr != nil {
		return fmt.Errorf("tar root filesystem: %w: %s", werr, stderr.String())
	}
	if streamErr != nil {
		return fmt.Errorf("import root filesystem as %s: %w", tag, streamErr)
	}
	return nil
}

// readJSONStream drains an engine progress stream and returns the error it reports, if any.
func readJSONStream(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			continue
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
		if msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
	}
	return sc.Err()
}

// addWorkload commits rootfsTag plus the workload binary as tag.
func addWorkload(ctx context.Context, engine Engine, rootfsTag, bin, tag string, log *slog.Logger) (err error) {
	start := time.Now()
	created, err := engine.ContainerCreate(ctx, &container.Config{
		Image:  rootfsTag,
		Cmd:    []string{"/bin/true"},
		Labels: map[string]string{"remint.build": tag},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		return fmt.Errorf("add workload to %s: create build container: %w", rootfsTag, err)
	}
	defer func() {
		// The build container never ran; remove it even when ctx is done.
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := engine.ContainerRemove(rmCtx, created.ID, container.RemoveOptions{Force: true}); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove build container %s: %w", created.ID, rerr))
		}
	}()
	archive, err := singleFileTar(bin, filepath.Base(WorkloadPath), 0o755)
	if err != nil {
		return fmt.Errorf("add workload to %s: %w", rootfsTag, err)
	}
	if err := engine.CopyToContainer(ctx, created.ID, filepath.Dir(WorkloadPath), archive, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("add workload to %s: copy %s: %w", rootfsTag, bin, err)
	}
	if _, err := engine.ContainerCommit(ctx, created.ID, container.CommitOptions{
		Reference: tag,
		Comment:   "remint workload " + filepath.Base(bin),
		Changes:   []string{`CMD ["` + InitPath + `"]`},
	}); err != nil {
		return fmt.Errorf("add workload to %s: commit %s: %w", rootfsTag, tag, err)
	}
	log.Info("workload layer added", "tag", tag, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// singleFileTar returns a tar archive holding the file at src as name, owned by root.
func singleFileTar(src, name string, mode int64) (io.Reader, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// isStaticELF reports whether the ELF file at path needs no dynamic loader.
func isStaticELF(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// removeBuildDir deletes a build directory, first detaching anything debootstrap left
// mounted in it (/proc, /sys after a failed run) so the removal cannot reach the host's.
func removeBuildDir(dir string) error {
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts before removing %s: %w", dir, err)
	}
	var below []string
	for _, line := range strings.Split(string(mounts), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			below = append(below, fields[4])
		}
	}
	// Deepest first.
	for i := len(below) - 1; i >= 0; i-- {
		if err := syscall.Unmount(below[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s before removing %s: %w", below[i], dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove build directory %s: %w", dir, err)
	}
	return nil
}
