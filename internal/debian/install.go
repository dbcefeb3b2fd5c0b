package debian

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/remote"
)

// Pin is a package and the exact version to install.
type Pin struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// InstallOptions tune Install.
type InstallOptions struct {
	// AllowDowngrade lets apt install a version lower than the installed one.
	AllowDowngrade bool
	// LockTimeout is how long apt waits for dpkg's lock (DPkg::Lock::Timeout).
	LockTimeout time.Duration
}

// aptArgs are the options every unattended apt-get run gets: no questions, keep locally
// changed configuration files and take the maintainer's for untouched ones.
func aptArgs(lockTimeout time.Duration) []string {
	return []string{
		"env", "DEBIAN_FRONTEND=noninteractive", "LANG=C", "apt-get", "-y", "-q",
		"-o", "Dpkg::Options::=--force-confdef",
		"-o", "Dpkg::Options::=--force-confold",
		"-o", "DPkg::Lock::Timeout=" + strconv.Itoa(int(lockTimeout.Seconds())),
	}
}

// Update refreshes the package lists (apt-get update).
func Update(ctx context.Context, r Runner, lockTimeout time.Duration) error {
	if _, err := run(ctx, r, sudo(append(aptArgs(lockTimeout), "update")...)...); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	return nil
}

// Install installs exactly the pinned versions (names and versions validated first) and
// nothing else that apt does not need for them. A failed apt run is returned as an error
// with apt's output; use Versions afterwards to see what was actually installed.
func Install(ctx context.Context, r Runner, pins []Pin, o InstallOptions) (remote.Result, error) {
	argv := aptArgs(o.LockTimeout)
	if o.AllowDowngrade {
		argv = append(argv, "--allow-downgrades")
	}
	argv = append(argv, "install", "--no-install-recommends")
	for _, p := range pins {
		s, err := pin(p.Name, p.Version)
		if err != nil {
			return remote.Result{}, err
		}
		argv = append(argv, s)
	}
	res, err := run(ctx, r, sudo(argv...)...)
	if err != nil {
		return res, fmt.Errorf("install %d packages: %w", len(pins), err)
	}
	return res, nil
}

// Versions returns the installed version of each named package ("" when not installed).
func Versions(ctx context.Context, r Runner, names []string) (map[string]string, error) {
	argv := []string{"dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n", "--"}
	for _, n := range names {
		if err := ValidPackageName(n); err != nil {
			return nil, err
		}
		argv = append(argv, n)
	}
	// dpkg-query exits 1 when a name is unknown; its output still lists the others.
	res, err := r.Run(ctx, argv)
	if err != nil {
		return nil, fmt.Errorf("dpkg-query: %w", err)
	}
	return ParseVersions(res.Stdout, names), nil
}

// ParseVersions reads dpkg-query -f '${Package}\t${db:Status-Abbrev}\t${Version}\n'.
// Only fully installed packages ("ii") count.
func ParseVersions(out string, names []string) map[string]string {
	v := make(map[string]string, len(names))
	for _, n := range names {
		v[n] = ""
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			continue
		}
		name, _, _ := strings.Cut(f[0], ":") // libfoo:amd64
		if strings.TrimSpace(f[1]) == "ii" {
			v[name] = f[2]
		}
	}
	return v
}
