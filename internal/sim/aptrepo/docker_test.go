package aptrepo

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPublishDockerInstallableFromRepoAlone downloads Debian's docker.io and its
// dependencies (~60 packages, ~80 MB, cached in REMINT_DOCKER_DEB_CACHE or
// /var/cache/remint/docker-debs), so it runs only with REMINT_E2E=1.
func TestPublishDockerInstallableFromRepoAlone(t *testing.T) {
	if os.Getenv("REMINT_E2E") != "1" {
		t.Skip("downloads docker.io and its dependencies with the host's apt: set REMINT_E2E=1")
	}
	needTool(t, "dpkg-deb", "dpkg")
	needTool(t, "apt-get", "apt")
	cache := os.Getenv("REMINT_DOCKER_DEB_CACHE")
	if cache == "" {
		cache = "/var/cache/remint/docker-debs"
	}
	r := openTestRepo(t)
	oldV, newV, err := r.PublishDocker(t.Context(), cache)
	require.NoError(t, err)
	assert.Regexp(t, `^20\.10\.`, oldV)
	assert.Equal(t, oldV+"+remint1", newV)

	// Publishing again reuses the cache and changes nothing.
	before := readFile(t, r.Dir(), "debian", "dists", SuiteBookwormUpdates, "main", "binary-amd64", "Packages")
	_, again, err := r.PublishDocker(t.Context(), cache)
	require.NoError(t, err)
	assert.Equal(t, newV, again)
	assert.Equal(t, before, readFile(t, r.Dir(), "debian", "dists", SuiteBookwormUpdates, "main", "binary-amd64", "Packages"))

	// The re-versioned package is Debian's with only the version changed.
	updates, err := r.Packages(SuiteBookwormUpdates)
	require.NoError(t, err)
	require.Len(t, updates, 1)
	newDeb := filepath.Join(r.Dir(), "debian", updates[0].Filename)
	oldCtrl := run(t, nil, "dpkg-deb", "-f", filepath.Join(r.Dir(), "debian", "pool/main/d/docker.io", "docker.io_"+oldV+"_amd64.deb"))
	newCtrl := run(t, nil, "dpkg-deb", "-f", newDeb)
	assert.Equal(t, strings.Replace(oldCtrl, "Version: "+oldV+"\n", "Version: "+newV+"\n", 1), newCtrl)
	assert.Contains(t, run(t, nil, "dpkg-deb", "-c", newDeb), "./usr/sbin/dockerd")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := r.Serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	keyring, err := r.PublicKeyring()
	require.NoError(t, err)
	apt := newAptRoot(t, srv.URL(), keyring)
	out := apt.run(t, "apt-get", "update")
	assert.Empty(t, aptProblemRE.FindAllString(out, -1), out)

	policy := apt.run(t, "apt-cache", "policy", DockerPackage)
	assert.Contains(t, policy, "Candidate: "+newV)
	assert.Contains(t, policy, "     "+oldV+" 500\n        500 "+srv.URL()+" bookworm/main amd64 Packages")

	// On an empty system (no dpkg status at all) the old engine resolves from this
	// repository alone, dependencies included; the new one is an upgrade of it.
	sim := apt.run(t, "apt-get", "-s", "-o", "APT::Install-Recommends=false", "install", DockerPackage+"="+oldV)
	assert.NotRegexp(t, `(?m)^E:`, sim)
	assert.Regexp(t, regexp.QuoteMeta("Inst docker.io ("+oldV+" "), sim)
	for _, dep := range []string{"containerd", "runc", "tini", "iptables", "libc6"} {
		assert.Regexp(t, `(?m)^Inst `+regexp.QuoteMeta(dep)+` `, sim, dep)
	}
	sim = apt.run(t, "apt-get", "-s", "-o", "APT::Install-Recommends=false", "install", DockerPackage+"="+newV)
	assert.Regexp(t, regexp.QuoteMeta("Inst docker.io ("+newV+" "), sim)
}
