package debian

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

// The host-*.txt files are apt's output on a real bookworm host with Debian's mirrors
// (captured with LANG=C): bookworm, bookworm-updates, bookworm-security.
func TestParsePolicySourcesHost(t *testing.T) {
	t.Parallel()
	rels := ParsePolicySources(readTestdata(t, "host-policy.txt"))
	assert.Equal(t, Release{Version: "12", Origin: "Debian", Archive: "oldstable-security", Codename: "bookworm-security",
		Label: "Debian-Security", Component: "main", Arch: "amd64", Site: "deb.debian.org"},
		rels["http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"])
	assert.Equal(t, "Debian bookworm-updates", rels["http://deb.debian.org/debian bookworm-updates/main amd64 Packages"].String())
	assert.Equal(t, "now", rels["/var/lib/dpkg/status"].Archive)
	assert.Len(t, rels, 4)
}

func TestClassifyHost(t *testing.T) {
	t.Parallel()
	sim := ParseSimulate(readTestdata(t, "host-simulate.txt"))
	require.Len(t, sim, 119)
	assert.Equal(t, SimulatedInstall{Name: "base-files", From: "12.4+deb12u11", To: "12.4+deb12u15"}, sim[0])
	pol := ParsePolicyPackages(readTestdata(t, "host-policy-pkgs.txt"))
	require.Len(t, pol, 4)
	assert.Equal(t, PackagePolicy{Installed: "5.4.1-1", Candidate: "5.4.1-1+deb12u2", Versions: []PolicyVersion{
		{"5.4.1-1+deb12u2", []string{"http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"}},
		{"5.4.1-1+deb12u1", []string{"http://deb.debian.org/debian bookworm/main amd64 Packages"}},
		{"5.4.1-1", []string{"/var/lib/dpkg/status"}},
	}}, pol["liblzma5"])

	var some []SimulatedInstall
	for _, s := range sim {
		if _, ok := pol[s.Name]; ok {
			some = append(some, s)
		}
	}
	got := Classify(some, pol, ParsePolicySources(readTestdata(t, "host-policy.txt")),
		ParseOSRelease("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n"), SecurityOriginsPatterns)
	assert.Equal(t, []Upgrade{
		{Name: "base-files", Installed: "12.4+deb12u11", Candidate: "12.4+deb12u15", Origins: []string{"Debian bookworm"}},
		{Name: "bash", Installed: "5.2.15-2+b8", Candidate: "5.2.15-2+b13", Origins: []string{"Debian bookworm"}},
		// In the point release and the security suite: security.
		{Name: "libgcrypt20", Installed: "1.10.1-3", Candidate: "1.10.1-3+deb12u1", Origins: []string{"Debian bookworm", "Debian-Security bookworm-security"},
			Security: true, SecurityVersion: "1.10.1-3+deb12u1"},
		{Name: "liblzma5", Installed: "5.4.1-1", Candidate: "5.4.1-1+deb12u2", Origins: []string{"Debian-Security bookworm-security"},
			Security: true, SecurityVersion: "5.4.1-1+deb12u2"},
	}, got)
}

func TestMatchOriginsPattern(t *testing.T) {
	t.Parallel()
	sec := Release{Origin: "Debian", Label: "Debian-Security", Codename: "bookworm-security", Archive: "stable-security", Component: "main", Site: "deb.debian.org"}
	upd := Release{Origin: "Debian", Label: "Debian", Codename: "bookworm-updates", Archive: "stable-updates", Component: "main"}
	for _, tc := range []struct {
		pattern string
		rel     Release
		want    bool
	}{
		{SecurityOriginsPatterns[0], sec, true},
		{SecurityOriginsPatterns[1], sec, false}, // codename is bookworm-security, not bookworm
		{SecurityOriginsPatterns[0], upd, false},
		{"origin=Debian,codename=${distro_codename}-updates", upd, true},
		{"o=Debian,a=stable-*", upd, true},
		{"o=Debian,n=bookworm-[su]*", sec, true},
		{"site=deb.debian.org", sec, true},
		{"origin=${distro_id},label=Debian-Security", sec, true},
		{"origin=Debian,nonsense=1", sec, false},
		{"", sec, false},
		{`o=Debian\,Inc`, Release{Origin: "Debian,Inc"}, true},
	} {
		assert.Equal(t, tc.want, MatchOriginsPattern(tc.pattern, tc.rel, "Debian", "bookworm"), "%s on %+v", tc.pattern, tc.rel)
	}
}
