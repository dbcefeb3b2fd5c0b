package debian

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Captured from a bookworm server of the simulator (dpkg-query with DpkgQueryArgv's format).
const dpkgOut = "ii \tadduser\t3.134\tall\n" +
	"ii \tdemo-libssl\t1.0-1+deb12u1\tall\n" +
	"rc \told-thing\t1.0\tamd64\n" +
	"ii \tlibc6\t2.36-9+deb12u10\tamd64\n"

// apt-cache policy demo-libssl libc6 adduser, as bookworm's apt prints it.
const policyOut = `demo-libssl:
  Installed: 1.0-1+deb12u1
  Candidate: 1.0-1+deb12u1
  Version table:
 *** 1.0-1+deb12u1 500
        500 http://10.231.1.1:38085/debian bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
     1.0-1 500
        500 http://10.231.1.1:38085/debian bookworm/main amd64 Packages
libc6:
  Installed: 2.36-9+deb12u10
  Candidate: 2.36-9+deb12u10
  Version table:
 *** 2.36-9+deb12u10 100
        100 /var/lib/dpkg/status
adduser:
  Installed: 3.134
  Candidate: 3.134
  Version table:
 *** 3.134 500
        500 http://10.231.1.1:38085/debian bookworm/main amd64 Packages
        500 http://10.231.1.1:38085/debian bookworm-updates/main amd64 Packages
        100 /var/lib/dpkg/status
`

func TestPackageListRoundTripAndSuites(t *testing.T) {
	t.Parallel()
	pkgs, err := ParseDpkgQuery(dpkgOut)
	require.NoError(t, err)
	pkgs = WithSuites(pkgs, ParseAptCachePolicy(policyOut))
	require.Equal(t, []Package{
		{Name: "adduser", Version: "3.134", Arch: "all", Suite: "bookworm"},
		{Name: "demo-libssl", Version: "1.0-1+deb12u1", Arch: "all", Suite: "bookworm-security"},
		{Name: "libc6", Version: "2.36-9+deb12u10", Arch: "amd64"},
	}, pkgs, "rc packages are not installed; a version only in dpkg's status has no suite")
	assert.True(t, pkgs[1].Security())
	text := FormatList(pkgs)
	assert.Equal(t, "adduser 3.134 all bookworm\ndemo-libssl 1.0-1+deb12u1 all bookworm-security\nlibc6 2.36-9+deb12u10 amd64 -\n", text)
	back, err := ParseList(text)
	require.NoError(t, err)
	assert.Equal(t, pkgs, back)
}

func TestParseDpkgQueryRefusesGarbage(t *testing.T) {
	t.Parallel()
	_, err := ParseDpkgQuery("ii \t$(id)\t1.0\tall\n")
	assert.Error(t, err)
	_, err = ParseDpkgQuery("ii only two\n")
	assert.Error(t, err)
	_, err = AptCachePolicyArgv([]string{"ok-name", "-o=evil"})
	assert.Error(t, err)
}

func TestDiff(t *testing.T) {
	t.Parallel()
	a := []Package{
		{Name: "demo-libssl", Version: "1.0-1", Arch: "all", Suite: "bookworm"},
		{Name: "gone", Version: "1", Arch: "all"},
		{Name: "same", Version: "2", Arch: "all"},
		{Name: "tool", Version: "1.0-1", Arch: "all"},
	}
	b := []Package{
		{Name: "demo-libssl", Version: "1.0-1+deb12u1", Arch: "all", Suite: "bookworm-security"},
		{Name: "new", Version: "3", Arch: "amd64", Suite: "bookworm"},
		{Name: "same", Version: "2", Arch: "all"},
		{Name: "tool", Version: "2.0-1", Arch: "all", Suite: "bookworm-updates"},
	}
	d := Diff(a, b)
	assert.Equal(t, []Change{
		{Name: "demo-libssl", From: "1.0-1", To: "1.0-1+deb12u1", Suite: "bookworm-security", Security: true},
		{Name: "gone", From: "1"},
		{Name: "new", To: "3", Suite: "bookworm"},
		{Name: "tool", From: "1.0-1", To: "2.0-1", Suite: "bookworm-updates"},
	}, d)
	kinds := []string{}
	for _, c := range d {
		kinds = append(kinds, c.Kind())
	}
	assert.Equal(t, []string{"upgraded", "removed", "added", "upgraded"}, kinds)
	assert.Empty(t, Diff(b, b))
}

func TestParseSimulatedUpgrade(t *testing.T) {
	t.Parallel()
	out := `Reading package lists...
Calculating upgrade...
The following packages will be upgraded:
  demo-libssl
1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst demo-libssl [1.0-1] (1.0-1+deb12u1 remint:bookworm-security [all])
Conf demo-libssl (1.0-1+deb12u1 remint:bookworm-security [all])
`
	assert.Equal(t, []string{"demo-libssl 1.0-1+deb12u1"}, ParseSimulatedUpgrade(out))
	assert.Empty(t, ParseSimulatedUpgrade("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"))
}
