package debian

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Upgrade is one installed package with a newer version available.
type Upgrade struct {
	Name      string `json:"name"`
	Installed string `json:"installed"`
	// Candidate is the version apt would install (the highest allowed by pinning).
	Candidate string `json:"candidate"`
	// Origins are the indexes the candidate comes from ("Debian-Security bookworm-security").
	Origins []string `json:"origins"`
	// Security says some version newer than the installed one comes from a security origin;
	// SecurityVersion is the highest such version: what unattended-upgrades would install.
	Security        bool   `json:"security"`
	SecurityVersion string `json:"security_version,omitempty"`
}

// Target is the version this upgrade installs in a security-only run.
func (u Upgrade) Target() string { return u.SecurityVersion }

// SimulatedInstall is one "Inst" line of `apt-get -s dist-upgrade`.
type SimulatedInstall struct {
	Name, From, To string // From is "" for a package newly installed as a dependency
}

var instRE = regexp.MustCompile(`^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) `)

// ParseSimulate reads `apt-get -s dist-upgrade` (or install) output: what would be
// upgraded or newly installed, in apt's order.
func ParseSimulate(out string) []SimulatedInstall {
	var res []SimulatedInstall
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if m := instRE.FindStringSubmatch(sc.Text()); m != nil {
			res = append(res, SimulatedInstall{Name: m[1], From: m[2], To: m[3]})
		}
	}
	return res
}

// PackagePolicy is one package's part of `apt-cache policy NAME…`.
type PackagePolicy struct {
	Installed string // "" when "(none)"
	Candidate string
	// Versions are newest first, as apt prints them, each with the indexes it comes from
	// (keys of ParsePolicySources; "/var/lib/dpkg/status" for the installed one).
	Versions []PolicyVersion
}

// PolicyVersion is a version and the package indexes that offer it.
type PolicyVersion struct {
	Version string
	Sources []string
}

// ParsePolicyPackages reads `apt-cache policy NAME…` (run with LANG=C).
func ParsePolicyPackages(out string) map[string]PackagePolicy {
	res := map[string]PackagePolicy{}
	var name string
	var cur PackagePolicy
	flush := func() {
		if name != "" {
			res[name] = cur
		}
	}
	inTable := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			flush()
			name, cur, inTable = strings.TrimSuffix(line, ":"), PackagePolicy{}, false
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Installed: "):
			cur.Installed = noneEmpty(strings.TrimPrefix(t, "Installed: "))
		case strings.HasPrefix(t, "Candidate: "):
			cur.Candidate = noneEmpty(strings.TrimPrefix(t, "Candidate: "))
		case t == "Version table:":
			inTable = true
		case inTable:
			// "*** 1.0-1 500" or "1.0-1+deb12u1 500" (a version), or "500 http://…" (a source).
			f := strings.Fields(strings.TrimPrefix(t, "*** "))
			if len(f) == 2 && strings.Trim(f[1], "-0123456789") == "" && strings.Trim(f[0], "-0123456789") != "" {
				cur.Versions = append(cur.Versions, PolicyVersion{Version: f[0]})
				continue
			}
			if _, idx, ok := cutPriority(t); ok && len(cur.Versions) > 0 {
				v := &cur.Versions[len(cur.Versions)-1]
				v.Sources = append(v.Sources, idx)
			}
		}
	}
	flush()
	return res
}

func noneEmpty(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

// OSRelease is what /etc/os-release says about the distribution.
type OSRelease struct {
	ID       string // "debian"
	Codename string // "bookworm"
}

// ParseOSRelease reads /etc/os-release.
func ParseOSRelease(s string) OSRelease {
	var o OSRelease
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			o.ID = v
		case "VERSION_CODENAME":
			o.Codename = v
		}
	}
	return o
}

// Classify joins the pieces: upgrades (from ParseSimulate, only those of installed
// packages), each package's version table, the release of each index, and the
// distribution; a version is a security update when one of its indexes matches one of
// patterns (SecurityOriginsPatterns). Like unattended-upgrades, the version picked for a
// security-only run is the highest one newer than the installed one that comes from a
// security origin, even if the candidate comes from elsewhere.
func Classify(sim []SimulatedInstall, pol map[string]PackagePolicy, rels map[string]Release, osr OSRelease, patterns []string) []Upgrade {
	distroID := "Debian"
	if osr.ID != "" && osr.ID != "debian" {
		distroID = osr.ID
	}
	var out []Upgrade
	for _, s := range sim {
		if s.From == "" {
			continue
		}
		u := Upgrade{Name: s.Name, Installed: s.From, Candidate: s.To}
		p := pol[s.Name]
		for _, v := range p.Versions {
			if v.Version == s.From {
				break // versions are newest first: the rest are older
			}
			sec := false
			var origins []string
			for _, src := range v.Sources {
				rel, ok := rels[src]
				if !ok {
					continue
				}
				origins = append(origins, rel.String())
				for _, pat := range patterns {
					if MatchOriginsPattern(pat, rel, distroID, osr.Codename) {
						sec = true
					}
				}
			}
			if v.Version == s.To {
				u.Origins = origins
			}
			if sec && !u.Security {
				u.Security, u.SecurityVersion = true, v.Version
			}
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b Upgrade) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Pending lists the upgrades available on the host (after the package lists were
// refreshed, see Update) and which of them are security updates.
func Pending(ctx context.Context, r Runner) ([]Upgrade, error) {
	osr, err := run(ctx, r, "cat", "/etc/os-release")
	if err != nil {
		return nil, fmt.Errorf("read /etc/os-release: %w", err)
	}
	sim, err := run(ctx, r, "env", "LANG=C", "apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade")
	if err != nil {
		return nil, fmt.Errorf("list pending upgrades (apt-get -s dist-upgrade): %w", err)
	}
	ups := ParseSimulate(sim.Stdout)
	var names []string
	for _, u := range ups {
		if u.From == "" {
			continue
		}
		if err := ValidPackageName(u.Name); err != nil {
			return nil, fmt.Errorf("apt-get -s dist-upgrade: %w", err)
		}
		names = append(names, u.Name)
	}
	if len(names) == 0 {
		return nil, nil
	}
	srcs, err := run(ctx, r, "env", "LANG=C", "apt-cache", "policy")
	if err != nil {
		return nil, fmt.Errorf("read package indexes (apt-cache policy): %w", err)
	}
	pol, err := run(ctx, r, append([]string{"env", "LANG=C", "apt-cache", "policy"}, names...)...)
	if err != nil {
		return nil, fmt.Errorf("read version tables (apt-cache policy): %w", err)
	}
	return Classify(ups, ParsePolicyPackages(pol.Stdout), ParsePolicySources(srcs.Stdout), ParseOSRelease(osr.Stdout), SecurityOriginsPatterns), nil
}
