package aptrepo

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uuOriginsScript loads unattended-upgrades' own code (without running it) and asks its
// origin matcher, with the stock Origins-Pattern, which versions it would install.
const uuOriginsScript = `
import importlib.machinery, importlib.util, sys
import apt, apt_pkg
loader = importlib.machinery.SourceFileLoader("uu", "/usr/bin/unattended-upgrade")
spec = importlib.util.spec_from_loader("uu", loader)
uu = importlib.util.module_from_spec(spec)
loader.exec_module(uu)
allowed = uu.get_allowed_origins()
cache = apt.Cache()
for name in sys.argv[1:]:
    for v in sorted(cache[name].versions, key=lambda v: v.version):
        print(name, v.version, "allowed" if any(uu.is_allowed_origin(o, allowed) for o in v.origins) else "refused")
`

// TestStockUnattendedUpgradesTreatsSecuritySuiteAsSecurity uses Debian 12's stock
// 50unattended-upgrades and the matcher of the installed unattended-upgrades against the
// served repository: the security suite is allowed, bookworm-updates is not.
func TestStockUnattendedUpgradesTreatsSecuritySuiteAsSecurity(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	// The interpreter unattended-upgrade's #! names, which has python3-apt (a python3
	// earlier in PATH, e.g. pyenv's, may not).
	const python = "/usr/bin/python3"
	needTool(t, "lsb_release", "lsb-release")
	const stock = "/usr/share/unattended-upgrades/50unattended-upgrades"
	for _, f := range []string{"/usr/bin/unattended-upgrade", python} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is required by this test: apt-get install -y unattended-upgrades python3-apt", f)
		}
	}
	conf, err := os.ReadFile(stock)
	require.NoError(t, err, "stock configuration of unattended-upgrades")

	r := openTestRepo(t)
	_, err = r.PublishDemo(t.Context())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := r.Serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	keyring, err := r.PublicKeyring()
	require.NoError(t, err)
	apt := newAptRoot(t, srv.URL(), keyring)
	require.NoError(t, os.WriteFile(filepath.Join(apt.dir, "etc/apt.conf.d/50unattended-upgrades"), conf, 0o644))
	apt.run(t, "apt-get", "update")

	out := apt.run(t, python, "-c", uuOriginsScript, "demo-libssl", "demo-tool")
	assert.Equal(t, "demo-libssl 1.0-1 allowed\n"+ // bookworm: origin=Debian,codename=bookworm,label=Debian
		"demo-libssl 1.0-1+deb12u1 allowed\n"+ // bookworm-security: label=Debian-Security
		"demo-tool 1.0-1 allowed\n"+
		"demo-tool 2.0-1 refused\n", // bookworm-updates is commented out in the stock file
		out)
}
