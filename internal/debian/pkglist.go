package debian

import (
	"bufio"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Package is one installed package as an image records it: name, version, architecture,
// and the apt suite its installed version came from ("" when unknown, e.g. installed
// from a file or no longer in any configured repository).
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
	Suite   string `json:"suite,omitempty"`
}

// Security reports whether the package's version came from a security suite
// (bookworm-security, or the older bookworm/updates form).
func (p Package) Security() bool { return IsSecuritySuite(p.Suite) }

// IsSecuritySuite reports whether suite is a Debian security suite.
func IsSecuritySuite(suite string) bool {
	return strings.HasSuffix(suite, "-security") || strings.HasSuffix(suite, "/updates")
}

// suiteRE is what an apt suite name may hold.
var suiteRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// DpkgQueryArgv lists the installed packages in the format ParseDpkgQuery reads.
func DpkgQueryArgv() []string {
	return []string{"dpkg-query", "-W", "-f", `${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n`}
}

// ParseDpkgQuery parses DpkgQueryArgv's output. Only packages that are installed ("ii")
// are returned, sorted by name.
func ParseDpkgQuery(out string) ([]Package, error) {
	var pkgs []Package
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("dpkg-query line %d %q: want 4 tab-separated fields", n, line)
		}
		if strings.TrimSpace(f[0]) != "ii" {
			continue // removed but configured (rc), half-installed…: not part of the image
		}
		p := Package{Name: f[1], Version: f[2], Arch: f[3]}
		if !packageNameRE.MatchString(p.Name) || !versionRE.MatchString(p.Version) {
			return nil, fmt.Errorf("dpkg-query line %d: %q %q is not a package name and version", n, p.Name, p.Version)
		}
		pkgs = append(pkgs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dpkg-query output: %w", err)
	}
	sortPackages(pkgs)
	return pkgs, nil
}

func sortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, func(a, b Package) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Arch, b.Arch)
	})
}

// AptCachePolicyArgv asks apt which suite each of the named packages' versions comes from;
// names must be package names (checked).
func AptCachePolicyArgv(names []string) ([]string, error) {
	for _, n := range names {
		if err := ValidPackageName(n); err != nil {
			return nil, fmt.Errorf("apt-cache policy: %w", err)
		}
	}
	return append([]string{"apt-cache", "policy"}, names...), nil
}

// ParseAptCachePolicy reads `apt-cache policy NAME…` and returns, per package name, the
// suite its installed version (the "***" row) comes from. When a version is offered by
// several suites, a security suite wins (the version is a security update).
func ParseAptCachePolicy(out string) map[string]string {
	suites := map[string]string{}
	for name, pol := range ParsePolicyPackages(out) {
		for _, v := range pol.Versions {
			if pol.Installed == "" || v.Version != pol.Installed {
				continue
			}
			for _, src := range v.Sources {
				// "http://host/ bookworm-security/main amd64 Packages"; skip "/var/lib/dpkg/status"
				f := strings.Fields(src)
				if len(f) < 2 || !strings.Contains(f[0], "://") {
					continue
				}
				suite, _, _ := strings.Cut(f[1], "/")
				if f[1] != suite && strings.HasSuffix(f[1], "/updates/main") {
					suite = strings.TrimSuffix(f[1], "/main") // bullseye-era "buster/updates/main"
				}
				if !suiteRE.MatchString(suite) {
					continue
				}
				if cur, ok := suites[name]; !ok || (!IsSecuritySuite(cur) && IsSecuritySuite(suite)) {
					suites[name] = suite
				}
			}
		}
	}
	return suites
}

// WithSuites returns pkgs with Suite filled in from suites (ParseAptCachePolicy's map).
func WithSuites(pkgs []Package, suites map[string]string) []Package {
	out := slices.Clone(pkgs)
	for i := range out {
		if s, ok := suites[out[i].Name]; ok {
			out[i].Suite = s
		} else if s, ok := suites[out[i].Name+":"+out[i].Arch]; ok {
			out[i].Suite = s
		}
	}
	return out
}

// FormatList renders pkgs one per line, "name version arch suite" ("-" for an unknown
// suite), sorted: the canonical form images record and digest.
func FormatList(pkgs []Package) string {
	sorted := slices.Clone(pkgs)
	sortPackages(sorted)
	var b strings.Builder
	for _, p := range sorted {
		suite := p.Suite
		if suite == "" {
			suite = "-"
		}
		arch := p.Arch
		if arch == "" {
			arch = "-"
		}
		fmt.Fprintf(&b, "%s %s %s %s\n", p.Name, p.Version, arch, suite)
	}
	return b.String()
}

// ParseList reads FormatList's form back.
func ParseList(s string) ([]Package, error) {
	var pkgs []Package
	for n, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || !packageNameRE.MatchString(f[0]) || !versionRE.MatchString(f[1]) {
			return nil, fmt.Errorf("package list line %d %q: want \"name version arch suite\"", n+1, line)
		}
		p := Package{Name: f[0], Version: f[1], Arch: f[2], Suite: f[3]}
		if p.Arch == "-" {
			p.Arch = ""
		}
		if p.Suite == "-" {
			p.Suite = ""
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// Change is one package that differs between two package lists.
type Change struct {
	Name string `json:"name"`
	// From is the version in the older list, "" when the package was added.
	From string `json:"from,omitempty"`
	// To is the version in the newer list, "" when the package was removed.
	To string `json:"to,omitempty"`
	// Suite is where To came from, when known.
	Suite string `json:"suite,omitempty"`
	// Security is true when To came from a security suite.
	Security bool `json:"security"`
}

// Kind is "added", "removed" or "upgraded" (which includes downgrades: the version changed).
func (c Change) Kind() string {
	switch {
	case c.From == "":
		return "added"
	case c.To == "":
		return "removed"
	}
	return "upgraded"
}

// Diff lists what changed from a to b, sorted by name: packages added, removed, and those
// whose version changed. Packages are matched by name and architecture.
func Diff(a, b []Package) []Change {
	key := func(p Package) string { return p.Name + ":" + p.Arch }
	old := map[string]Package{}
	for _, p := range a {
		old[key(p)] = p
	}
	var out []Change
	seen := map[string]bool{}
	for _, p := range b {
		k := key(p)
		seen[k] = true
		o, ok := old[k]
		switch {
		case !ok:
			out = append(out, Change{Name: p.Name, To: p.Version, Suite: p.Suite, Security: p.Security()})
		case o.Version != p.Version:
			out = append(out, Change{Name: p.Name, From: o.Version, To: p.Version, Suite: p.Suite, Security: p.Security()})
		}
	}
	for _, p := range a {
		if !seen[key(p)] {
			out = append(out, Change{Name: p.Name, From: p.Version})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// ParseSimulatedUpgrade reads the "Inst" lines of `apt-get -s full-upgrade` and returns the
// packages that would change, "name version" each, sorted: the upgradable set.
//
//	Inst demo-libssl [1.0-1] (1.0-1+deb12u1 Debian-Security:12/stable-security [all])
func ParseSimulatedUpgrade(out string) []string {
	var set []string
	for _, in := range ParseSimulate(out) {
		set = append(set, in.Name+" "+in.To)
	}
	slices.Sort(set)
	return set
}
