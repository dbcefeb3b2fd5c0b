package debian

import (
	"bufio"
	"regexp"
	"strings"
)

// Release is what apt knows of one package index from its Release file, as `apt-cache
// policy` prints it ("release v=12,o=Debian,a=bookworm-security,n=bookworm-security,
// l=Debian-Security,c=main,b=amd64" and "origin deb.debian.org").
type Release struct {
	Version   string // v
	Origin    string // o
	Archive   string // a (suite)
	Codename  string // n
	Label     string // l
	Component string // c
	Arch      string // b
	Site      string // the "origin" line: the host serving it
}

// String names the index the way people talk about it: "Debian-Security bookworm-security".
func (r Release) String() string {
	n := r.Codename
	if n == "" {
		n = r.Archive
	}
	return strings.TrimSpace(r.Label + " " + n)
}

// ParsePolicySources reads `apt-cache policy` (without arguments) and returns the release
// of each package index, keyed by the index's line as the per-package version tables
// print it ("http://host/debian bookworm-security/main amd64 Packages").
func ParsePolicySources(out string) map[string]Release {
	rels := map[string]Release{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasSuffix(t, ":"):
			// "Package files:", "Pinned packages:"
			if strings.HasPrefix(t, "Pinned packages") {
				return rels
			}
		case strings.HasPrefix(t, "release "):
			if cur == "" {
				continue
			}
			r := rels[cur]
			for _, kv := range splitEscaped(strings.TrimPrefix(t, "release ")) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "v":
					r.Version = v
				case "o":
					r.Origin = v
				case "a":
					r.Archive = v
				case "n":
					r.Codename = v
				case "l":
					r.Label = v
				case "c":
					r.Component = v
				case "b":
					r.Arch = v
				}
			}
			rels[cur] = r
		case strings.HasPrefix(t, "origin "):
			if cur != "" {
				r := rels[cur]
				r.Site = strings.TrimPrefix(t, "origin ")
				rels[cur] = r
			}
		default:
			// " 500 http://… bookworm-security/main amd64 Packages"
			if _, idx, ok := cutPriority(t); ok {
				cur = idx
				rels[cur] = rels[cur]
			}
		}
	}
	return rels
}

// cutPriority splits "500 http://… Packages" into the pin priority and the index.
func cutPriority(t string) (string, string, bool) {
	prio, rest, ok := strings.Cut(t, " ")
	if !ok || prio == "" || strings.Trim(prio, "-0123456789") != "" {
		return "", "", false
	}
	return prio, strings.TrimSpace(rest), true
}

// splitEscaped splits on commas not escaped as "\,".
func splitEscaped(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ',':
			b.WriteByte(',')
			i++
		case s[i] == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

// MatchOriginsPattern reports whether rel matches an unattended-upgrades Origins-Pattern
// entry such as "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
// the way unattended-upgrades' match_whitelist_string does: every key must match; keys
// are origin/o, label/l, archive/suite/a, codename/n, component/c, site; values may use
// shell wildcards; ${distro_id} and ${distro_codename} are substituted; "\," is a comma.
func MatchOriginsPattern(pattern string, rel Release, distroID, distroCodename string) bool {
	pattern = strings.ReplaceAll(pattern, "${distro_id}", distroID)
	pattern = strings.ReplaceAll(pattern, "${distro_codename}", distroCodename)
	matched := false
	for _, tok := range splitEscaped(pattern) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return false
		}
		var have string
		switch k {
		case "origin", "o":
			have = rel.Origin
		case "label", "l":
			have = rel.Label
		case "archive", "suite", "a":
			have = rel.Archive
		case "codename", "n":
			have = rel.Codename
		case "component", "c":
			have = rel.Component
		case "site":
			have = rel.Site
		default:
			return false // unattended-upgrades raises on an unknown key
		}
		if !wildcard(v, have) {
			return false
		}
		matched = true
	}
	return matched
}

// wildcard is fnmatch without flags: * ? and [...] as the shell has them.
func wildcard(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}
