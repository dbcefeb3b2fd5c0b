// Package baseimage builds the simulator's debian-12 base image on this machine, since
// nothing can be pulled here: debootstrap bookworm (minbase) from Debian's packages, add the
// init script and sshd/sudo settings a cloud image has, import the root filesystem into the
// Docker engine, then add the workload binary as a layer of its own. It belongs to the
// simulated world (see internal/sim): the docker driver boots it, production code never
// imports it.
//
// The entry point is Ensure. Both stages are cached under tags derived from what went into
// them, so the slow stage (debootstrap, about a minute) runs once per machine and a new
// remint binary only costs the few seconds of the workload layer:
//
//	remint/debian-12-rootfs:<recipe hash>          debootstrap + customisation, imported
//	remint/debian-12:<recipe hash>-<binary hash>   the above + /usr/local/bin/remint-workload
//
// What a server booted from it looks like: user "debian" with passwordless sudo and the
// Nova key, key-only sshd, fresh SSH host keys per instance printed to the console as
// cloud-init does, and remint-init (remint-init.sh) as /sbin/init: a sysvinit-style init at
// runlevel 2 that starts the services enabled in /etc/rc2.d, the workload, and user data
// scripts, and lets package scripts restart services through invoke-rc.d.
//
// The image holds no apt source and no repository key: the docker driver writes both at
// boot, because the local repository's address changes from run to run.
package baseimage

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Paths inside the image that the docker driver relies on.
const (
	InitPath     = "/usr/local/sbin/remint-init"
	WorkloadPath = "/usr/local/bin/remint-workload"
	// DefaultUser is the login user with passwordless sudo, as on Debian's cloud images.
	DefaultUser = "debian"
)

// Repository is the image repository both stages are tagged under.
const (
	Repository       = "remint/debian-12"
	RootfsRepository = "remint/debian-12-rootfs"
)

// DefaultPackages are installed on top of minbase.
var DefaultPackages = []string{
	"openssh-server", "unattended-upgrades", "python3", "ca-certificates",
	"iproute2", "curl", "sudo", "procps",
}

//go:embed remint-init.sh
var initScript []byte

// recipeVersion changes whenever the customisation code changes in a way the other inputs
// do not capture.
const recipeVersion = "3"

// Engine is the part of the Docker Engine API the build uses; *client.Client satisfies it.
type Engine interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	ContainerCommit(ctx context.Context, containerID string, options container.CommitOptions) (container.CommitResponse, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
}

// Options describe the image to ensure. The zero value builds the default recipe with the
// running binary as the workload.
type Options struct {
	// Suite is the Debian suite; default "bookworm".
	Suite string
	// Mirror is the Debian mirror debootstrap downloads from; default http://deb.debian.org/debian.
	Mirror string
	// Packages are installed on top of minbase; default DefaultPackages.
	Packages []string
	// WorkloadBinary is a statically linked remint binary copied into the image; default the
	// running executable, which must then be static (build with CGO_ENABLED=0).
	WorkloadBinary string
	// CacheDir keeps debootstrap's downloaded packages and the build directories; default
	// /var/cache/remint.
	CacheDir string
	// Logger receives progress; default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Suite == "" {
		o.Suite = "bookworm"
	}
	if o.Mirror == "" {
		o.Mirror = "http://deb.debian.org/debian"
	}
	if len(o.Packages) == 0 {
		o.Packages = DefaultPackages
	}
	if o.CacheDir == "" {
		o.CacheDir = "/var/cache/remint"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// RecipeHash identifies the root filesystem stage: everything that goes into it except the
// workload binary.
func (o Options) RecipeHash() string {
	o = o.withDefaults()
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\nsuite %s\nmirror %s\npackages %s\nuser %s\n",
		recipeVersion, o.Suite, o.Mirror, strings.Join(sortedCopy(o.Packages), ","), DefaultUser)
	h.Write(initScript)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Ensure returns the tag of the base image described by opts, building whatever stage is
// missing. built reports whether anything was built.
func Ensure(ctx context.Context, engine Engine, opts Options) (tag string, built bool, err error) {
	opts = opts.withDefaults()
	bin, err := workloadBinary(opts.WorkloadBinary)
	if err != nil {
		return "", false, err
	}
	binHash, err := fileHash(bin)
	if err != nil {
		return "", false, fmt.Errorf("hash workload binary %s: %w", bin, err)
	}
	recipe := opts.RecipeHash()
	tag = Repository + ":" + recipe + "-" + binHash[:12]
	if ok, err := imageExists(ctx, engine, tag); err != nil || ok {
		return tag, false, err
	}
	// One build per machine at a time: a second process waits, then finds the image.
	unlock, err := lockBuilds(ctx, opts.CacheDir)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if ok, err := imageExists(ctx, engine, tag); err != nil || ok {
		return tag, false, err
	}
	rootfsTag := RootfsRepository + ":" + recipe
	ok, err := imageExists(ctx, engine, rootfsTag)
	if err != nil {
		return "", false, err
	}
	if !ok {
		if err := buildRootfs(ctx, engine, opts, rootfsTag); err != nil {
			return "", false, err
		}
	}
	if err := addWorkload(ctx, engine, rootfsTag, bin, tag, opts.Logger); err != nil {
		return "", false, err
	}
	opts.Logger.Info("base image ready", "tag", tag)
	prune(ctx, engine, []string{tag, rootfsTag}, time.Now(), opts.Logger)
	return tag, true, nil
}

func imageExists(ctx context.Context, engine Engine, ref string) (bool, error) {
	_, err := engine.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
}

// workloadBinary resolves the binary to bake in and checks that it can run on the image,
// which has none of the host's shared libraries in matching versions.
func workloadBinary(path string) (string, error) {
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find the running executable for the workload: %w", err)
		}
		path = exe
	}
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("resolve workload binary: %w", err)
	}
	static, err := isStaticELF(path)
	if err != nil {
		return "", fmt.Errorf("inspect workload binary %s: %w", path, err)
	}
	if !static {
		return "", fmt.Errorf("workload binary %s is dynamically linked: build remint with CGO_ENABLED=0 and pass it as the workload binary", path)
	}
	return path, nil
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrNoDebootstrap is returned when debootstrap is not installed.
var ErrNoDebootstrap = errors.New("debootstrap is not installed (apt-get install -y debootstrap)")
