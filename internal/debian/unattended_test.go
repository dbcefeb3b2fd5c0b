package debian

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOriginsConfReplacesStockOrigins loads Debian's stock 50unattended-upgrades and
// remint's file with the real apt-config: only the security origins remain, and
// unattended reboots are off.
func TestOriginsConfReplacesStockOrigins(t *testing.T) {
	t.Parallel()
	const stock = "/usr/share/unattended-upgrades/50unattended-upgrades"
	if _, err := exec.LookPath("apt-config"); err != nil {
		t.Fatal("apt-config is required by this test (Debian's apt package)")
	}
	conf, err := os.ReadFile(stock)
	require.NoError(t, err, "stock configuration of unattended-upgrades: apt-get install -y unattended-upgrades (make deps-test)")
	dir := t.TempDir()
	parts := filepath.Join(dir, "apt.conf.d")
	require.NoError(t, os.Mkdir(parts, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(parts, "50unattended-upgrades"), conf, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(parts, filepath.Base(AutoUpgradesPath)), []byte(AutoUpgradesConf), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(parts, filepath.Base(OriginsPath)), []byte(OriginsConf()), 0o644))
	main := filepath.Join(dir, "apt.conf")
	require.NoError(t, os.WriteFile(main, []byte(`Dir::Etc::parts "`+parts+`";`+"\n"), 0o644))

	cmd := exec.Command("apt-config", "dump")
	cmd.Env = append(os.Environ(), "APT_CONFIG="+main)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "apt-config dump:\n%s", out)
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Unattended-Upgrade::Origins-Pattern:: ") ||
			strings.HasPrefix(l, "Unattended-Upgrade::Allowed-Origins:: ") ||
			strings.HasPrefix(l, "Unattended-Upgrade::Automatic-Reboot ") ||
			strings.HasPrefix(l, "APT::Periodic::") {
			got = append(got, l)
		}
	}
	assert.Equal(t, []string{
		`APT::Periodic::Update-Package-Lists "1";`,
		`APT::Periodic::Unattended-Upgrade "1";`,
		`Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";`,
		`Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian-Security";`,
		`Unattended-Upgrade::Automatic-Reboot "false";`,
	}, got)
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"libssl3", "g++", "docker.io", "libc6-dev", "demo-libssl"} {
		assert.NoError(t, ValidPackageName(n), n)
	}
	for _, n := range []string{"", "a", "-rf", "Foo", "a b", "x;rm", "pkg=1", "$(id)", "a/b"} {
		assert.Error(t, ValidPackageName(n), n)
	}
	for _, v := range []string{"1.0-1", "1.0-1+deb12u1", "1:2.36-9+deb12u4", "20.10.24+dfsg1-1+b3", "2.0~rc1-1"} {
		assert.NoError(t, ValidVersion(v), v)
	}
	for _, v := range []string{"", "a1.0", "1.0 -1", "1.0;id", "-1", "1.0/2", "1.0$x"} {
		assert.Error(t, ValidVersion(v), v)
	}
}
