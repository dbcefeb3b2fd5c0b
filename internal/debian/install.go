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

// VersionLess reports whether Debian version a sorts before b, asking the host's dpkg
// (the reference implementation of the ordering).
func VersionLess(ctx context.Context, r Runner, a, b string) (bool, error) {
	for _, v := range []string{a, b} {
		if err := ValidVersion(v); err != nil {
			return false, err
		}
	}
	res, err := r.Run(ctx, []string{"dpkg", "--compare-versions", a, "lt", b})
	if err != nil {
		return false, fmt.Errorf("dpkg --compare-versions %s lt %s: %w", a, b, err)
	}
	switch res.ExitStatus {
	case 0:
		return true, nil
	case 1:
		return false, nil
	}
	return false, fmt.Errorf("dpkg --compare-versions %s lt %s: %w", a, b, res.Err())
}

// Upstream is a Debian version without its epoch and Debian revision: what the
// software itself reports ("1:20.10.24+dfsg1-1+b3" → "20.10.24+dfsg1").
func Upstream(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	return v
}
