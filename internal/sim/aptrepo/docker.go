package aptrepo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// The Docker upgrade path: Debian's docker.io and a re-versioned copy of the same package.
const (
	DockerPackage = "docker.io"
	// DockerReversionSuffix is appended to Debian's version to make the "new" engine; it
	// sorts after the original, so apt sees an upgrade.
	DockerReversionSuffix = "+remint1"
)

// PublishDocker publishes Debian's docker.io into bookworm together with every package
// it needs on an empty system (so `apt-get install docker.io=<old>` works from this
// repository alone), and the same package re-versioned (+remint1) into
// bookworm-updates, which stock unattended-upgrades leaves alone.
//
// The packages come from the host's apt sources at their bookworm versions: the
// dependency set is resolved by `apt-get -s -t bookworm install docker.io` against an
// empty dpkg status and fetched with `apt-get download` into cacheDir, which is reused on
// later calls. Bookworm versions are the ones debootstrap puts in a base image, so the
// base libraries published alongside are not upgrades for it.
func (r *Repo) PublishDocker(ctx context.Context, cacheDir string) (oldVersion, newVersion string, err error) {
	aptGet, err := requireTool("apt-get", "apt")
	if err != nil {
		return "", "", err
	}
	dpkgDeb, err := requireTool("dpkg-deb", "dpkg")
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", fmt.Errorf("publish docker.io: cache directory: %w", err)
	}
	pkgs, err := resolveDockerClosure(ctx, aptGet)
	if err != nil {
		return "", "", fmt.Errorf("publish docker.io: %w", err)
	}
	debs, err := downloadDebs(ctx, aptGet, cacheDir, pkgs)
	if err != nil {
		return "", "", fmt.Errorf("publish docker.io: %w", err)
	}
	var dockerDeb string
	for i, p := range pkgs {
		if _, err := r.Add(ctx, SuiteBookworm, debs[i]); err != nil {
			return "", "", fmt.Errorf("publish docker.io: %w", err)
		}
		if p.name == DockerPackage {
			oldVersion, dockerDeb = p.version, debs[i]
		}
	}
	if dockerDeb == "" {
		return "", "", fmt.Errorf("publish docker.io: apt did not resolve %s itself", DockerPackage)
	}
	newVersion = oldVersion + DockerReversionSuffix
	newDeb, err := reversionDeb(ctx, dpkgDeb, dockerDeb, filepath.Join(cacheDir, "remint"), newVersion)
	if err != nil {
		return "", "", fmt.Errorf("publish docker.io %s: %w", newVersion, err)
	}
	if _, err := r.Add(ctx, SuiteBookwormUpdates, newDeb); err != nil {
		return "", "", fmt.Errorf("publish docker.io %s: %w", newVersion, err)
	}
	return oldVersion, newVersion, nil
}

type aptPackage struct{ name, version, arch string }

// aptInstRE matches apt-get -s lines: "Inst libc6 (2.36-9+deb12u10 Debian:12.11/stable [amd64])".
var aptInstRE = regexp.MustCompile(`^Inst (\S+) \((\S+) [^\[]*\[([a-z0-9]+)\]\)`)

// resolveDockerClosure asks the host's apt what installing docker.io (without
// recommends) takes on an empty system, preferring bookworm over its update suites.
func resolveDockerClosure(ctx context.Context, aptGet string) ([]aptPackage, error) {
	empty, err := os.CreateTemp("", "remint-empty-dpkg-status-*")
	if err != nil {
		return nil, err
	}
	empty.Close()
	defer os.Remove(empty.Name())
	cmd := exec.CommandContext(ctx, aptGet, "-s", "-q",
		"-o", "Dir::State::status="+empty.Name(),
		"-o", "APT::Install-Recommends=false",
		"-o", "Debug::NoLocking=true",
		"-t", SuiteBookworm, "install", DockerPackage)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("resolve %s dependencies with apt-get -s (are the host's apt lists current? run apt-get update): %w: %s",
			DockerPackage, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var pkgs []aptPackage
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := aptInstRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p := aptPackage{name: m[1], version: m[2], arch: m[3]}
		if err := ValidatePackageName(p.name); err != nil {
			return nil, fmt.Errorf("apt-get -s: %w", err)
		}
		if err := ValidateVersion(p.version); err != nil {
			return nil, fmt.Errorf("apt-get -s: %s: %w", p.name, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("apt-get -s install %s resolved no packages: %s", DockerPackage, bytes.TrimSpace(out))
	}
	return pkgs, nil
}

// downloadDebs returns the cached .deb of each package, fetching the missing ones with
// one apt-get download run. apt-get names files name_version_arch.deb with the epoch's
// colon written as %3a.
func downloadDebs(ctx context.Context, aptGet, cacheDir string, pkgs []aptPackage) ([]string, error) {
	paths := make([]string, len(pkgs))
	var missing []string
	for i, p := range pkgs {
		paths[i] = filepath.Join(cacheDir, fmt.Sprintf("%s_%s_%s.deb", p.name, strings.ReplaceAll(p.version, ":", "%3a"), p.arch))
		if _, err := os.Stat(paths[i]); err != nil {
			missing = append(missing, p.name+"="+p.version)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	args := append([]string{"-q", "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=true", "download"}, missing...)
	cmd := exec.CommandContext(ctx, aptGet, args...)
	cmd.Dir = cacheDir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %d packages into %s: %w: %s", len(missing), cacheDir, err, lastLines(out, 10))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("apt-get download did not produce %s: %w", filepath.Base(p), err)
		}
	}
	return paths, nil
}

// reversionDeb unpacks deb, sets its Version and rebuilds it as outDir/name_version_arch.deb,
// reusing an earlier result. The rebuild is deterministic (SOURCE_DATE_EPOCH from the
// original control file), so a lost cache does not make the pool see a different file.
func reversionDeb(ctx context.Context, dpkgDeb, deb, outDir, version string) (string, error) {
	if err := ValidateVersion(version); err != nil {
		return "", err
	}
	ctrl, err := readDebControl(ctx, deb)
	if err != nil {
		return "", err
	}
	name, arch := ctrl.Value("Package"), ctrl.Value("Architecture")
	out := filepath.Join(outDir, fmt.Sprintf("%s_%s_%s.deb", name, debFileVersion(version), arch))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(outDir, ".unpack-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	absDeb, err := filepath.Abs(deb)
	if err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, dpkgDeb, "--raw-extract", absDeb, root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb --raw-extract %s: %w: %s", deb, err, lastLines(out, 5))
	}
	controlPath := filepath.Join(root, "DEBIAN", "control")
	st, err := os.Stat(controlPath)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(controlPath, []byte(ctrl.Set("Version", version).String()), 0o644); err != nil {
		return "", err
	}
	mtime := st.ModTime()
	for _, p := range []string{controlPath, filepath.Join(root, "DEBIAN"), root} {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			return "", err
		}
	}
	built := filepath.Join(tmp, "out.deb")
	cmd := exec.CommandContext(ctx, dpkgDeb, "--root-owner-group", "-Zgzip", "--build", root, built)
	cmd.Env = append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", mtime.Unix()))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb --build %s %s: %w: %s", name, version, err, lastLines(out, 5))
	}
	if err := os.Rename(built, out); err != nil {
		return "", err
	}
	return out, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
