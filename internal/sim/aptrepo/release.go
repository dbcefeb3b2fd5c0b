package aptrepo

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SuiteInfo is the identity a suite's Release file declares. apt pins and
// unattended-upgrades' Origins-Pattern match on these fields, so they are Debian's own.
type SuiteInfo struct {
	Dist        string // directory under dists/ and the name in sources.list
	Origin      string
	Label       string
	Suite       string // the archive name ("stable", "stable-security")
	Codename    string
	Description string
}

// Suites of the repository, in Debian's naming. Debian 12's stock
// /etc/apt/apt.conf.d/50unattended-upgrades selects
// "origin=Debian,codename=${distro_codename}-security,label=Debian-Security" (security) and
// "origin=Debian,codename=${distro_codename},label=Debian" (point releases), and leaves
// "-updates" commented out.
var Suites = []SuiteInfo{
	{Dist: "bookworm", Origin: "Debian", Label: "Debian", Suite: "stable", Codename: "bookworm",
		Description: "Debian 12 (simulated by remint)"},
	{Dist: "bookworm-updates", Origin: "Debian", Label: "Debian", Suite: "stable-updates", Codename: "bookworm-updates",
		Description: "Debian 12 - Updates (simulated by remint)"},
	{Dist: "bookworm-security", Origin: "Debian", Label: "Debian-Security", Suite: "stable-security", Codename: "bookworm-security",
		Description: "Debian 12 - Security Updates (simulated by remint)"},
}

// Suite names for Add.
const (
	SuiteBookworm         = "bookworm"
	SuiteBookwormUpdates  = "bookworm-updates"
	SuiteBookwormSecurity = "bookworm-security"
)

// Architectures the repository carries; arch-all packages are listed in the amd64 index.
const (
	archAmd64 = "amd64"
	archAll   = "all"
	component = "main"
)

func suiteInfo(dist string) (SuiteInfo, error) {
	for _, s := range Suites {
		if s.Dist == dist {
			return s, nil
		}
	}
	names := make([]string, len(Suites))
	for i, s := range Suites {
		names[i] = s.Dist
	}
	return SuiteInfo{}, fmt.Errorf("suite %q: want one of %s", dist, strings.Join(names, ", "))
}

// indexFile is one file listed in a Release file, by path relative to dists/<dist>/.
type indexFile struct {
	Path string
	Data []byte
}

// releaseDateFormat is the RFC 2822 form Debian's archive uses ("Sat, 10 Jun 2023 08:00:00 UTC").
const releaseDateFormat = "Mon, 02 Jan 2006 15:04:05 UTC"

// buildRelease renders the Release file of a suite listing files with their MD5 and
// SHA-256 sums. It is pure: the same inputs give the same bytes.
func buildRelease(s SuiteInfo, date time.Time, files []indexFile) []byte {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b indexFile) int { return strings.Compare(a.Path, b.Path) })
	sums := func(hash func([]byte) string) string {
		var b strings.Builder
		for _, f := range files {
			fmt.Fprintf(&b, "\n %s %8d %s", hash(f.Data), len(f.Data), f.Path)
		}
		return b.String()
	}
	p := Paragraph{
		{"Origin", s.Origin},
		{"Label", s.Label},
		{"Suite", s.Suite},
		{"Codename", s.Codename},
		{"Date", date.UTC().Format(releaseDateFormat)},
		{"Acquire-By-Hash", "yes"},
		// Debian lists arch-all packages in every per-architecture index and says so.
		{"No-Support-for-Architecture-all", "Packages"},
		{"Architectures", archAll + " " + archAmd64},
		{"Components", component},
		{"Description", s.Description},
		{"MD5Sum", sums(md5Hex)},
		{"SHA256", sums(sha256Hex)},
	}
	return []byte(p.String())
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
