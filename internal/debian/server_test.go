package debian

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The server-*.txt files are captured (LANG=C) from a docker-driver server of `remint sim`
// with demo-libssl 1.0-1 and demo-tool 1.0-1 installed and the demo set published: the
// simulator's signed repository with Debian's Release fields for bookworm,
// bookworm-updates and bookworm-security.
func TestClassifyServer(t *testing.T) {
	t.Parallel()
	rels := ParsePolicySources(readTestdata(t, "server-policy.txt"))
	const sec = "http://10.231.1.1:36961/debian bookworm-security/main amd64 Packages"
	assert.Equal(t, Release{Origin: "Debian", Archive: "stable-security", Codename: "bookworm-security", Label: "Debian-Security",
		Component: "main", Arch: "amd64", Site: "10.231.1.1"}, rels[sec])

	sim := ParseSimulate(readTestdata(t, "server-simulate.txt"))
	assert.Equal(t, []SimulatedInstall{
		{Name: "demo-libssl", From: "1.0-1", To: "1.0-1+deb12u1"},
		{Name: "demo-tool", From: "1.0-1", To: "2.0-1"},
	}, sim)
	pol := ParsePolicyPackages(readTestdata(t, "server-policy-pkgs.txt"))
	assert.Equal(t, "2.0-1", pol["demo-tool"].Candidate)
	assert.Equal(t, []string{"http://10.231.1.1:36961/debian bookworm/main amd64 Packages", "/var/lib/dpkg/status"}, pol["demo-tool"].Versions[1].Sources)

	osr := ParseOSRelease(readTestdata(t, "server-os-release.txt"))
	assert.Equal(t, OSRelease{ID: "debian", Codename: "bookworm"}, osr)
	got := Classify(sim, pol, rels, osr, SecurityOriginsPatterns)
	assert.Equal(t, []Upgrade{
		{Name: "demo-libssl", Installed: "1.0-1", Candidate: "1.0-1+deb12u1", Origins: []string{"Debian-Security bookworm-security"},
			Security: true, SecurityVersion: "1.0-1+deb12u1"},
		{Name: "demo-tool", Installed: "1.0-1", Candidate: "2.0-1", Origins: []string{"Debian bookworm-updates"}},
	}, got)

	// The stock Origins-Pattern of bookworm's 50unattended-upgrades also allows the point
	// release (label Debian, codename bookworm), but not bookworm-updates: demo-tool stays.
	stock := []string{"origin=Debian,codename=${distro_codename},label=Debian", "origin=Debian,codename=${distro_codename},label=Debian-Security",
		"origin=Debian,codename=${distro_codename}-security,label=Debian-Security"}
	got = Classify(sim, pol, rels, osr, stock)
	require.Len(t, got, 2)
	assert.False(t, got[1].Security)
}

func TestServerOutputs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, RebootRequired{Required: true, Packages: []string{"demo-libssl"}}, ParseRebootRequired(readTestdata(t, "server-reboot-required.txt")))
	n, err := ParseDFAvailable(readTestdata(t, "server-df.txt"))
	require.NoError(t, err)
	assert.Equal(t, int64(78542292)*1024, n)
	assert.Equal(t, map[string]string{"demo-libssl": "1.0-1+deb12u1", "demo-tool": "2.0-1", "nonexistent-pkg": ""},
		ParseVersions(readTestdata(t, "server-dpkg-query.txt"), []string{"demo-libssl", "demo-tool", "nonexistent-pkg"}))
	// What dpkg --audit says about a package unpacked but never configured: Audit returns
	// it as is, and preflight refuses the server with it.
	assert.Contains(t, readTestdata(t, "server-dpkg-audit.txt"), "unpacked but not yet configured")
	assert.Contains(t, readTestdata(t, "server-dpkg-audit.txt"), " demo-tool ")
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"20.10.24+dfsg1-1+b3":                 "20.10.24+dfsg1",
		"20.10.24+dfsg1-1+deb12u1+b6+remint1": "20.10.24+dfsg1",
		"1:2.36-9":                            "2.36",
		"2.8.1":                               "2.8.1",
	} {
		assert.Equal(t, want, Upstream(in), in)
	}
}
