package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packerTemplate is the minimal Packer template for the simulator that README shows: the
// openstack builder (clouds.yaml's remint-sim), a shell provisioner, the manifest
// post-processor.
const packerTemplate = `{
  "builders": [{
    "type": "openstack",
    "cloud": "remint-sim",
    "image_name": "packer-debian-12-{{timestamp}}",
    "source_image_name": "debian-12",
    "flavor": "m1.small",
    "networks": ["%s"],
    "ssh_username": "debian"
  }],
  "provisioners": [{
    "type": "shell",
    "inline": ["echo built-by-packer | sudo tee /etc/packer-built"]
  }],
  "post-processors": [{"type": "manifest", "output": "packer-manifest.json"}]
}
`

// testPackerHandOver runs Debian's packer (1.6.6) against the simulator as a new user
// would, then hands the image over: remint image register --from-packer-manifest --verify.
// The image boots with what Packer provisioned. It runs inside TestImagePipeline, sharing
// its simulator.
func testPackerHandOver(t *testing.T, ctx context.Context, p *pipeline) {
	packer, err := exec.LookPath("packer")
	require.NoError(t, err, "make e2e needs Debian's packer: apt-get install -y packer (scripts/deps.sh e2e)")
	net, err := p.c.os.GetNetwork(ctx, "private")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "template.json"), []byte(fmt.Sprintf(packerTemplate, net.ID)), 0o644))

	cmd := exec.CommandContext(ctx, packer, "build", "-color=false", "template.json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+p.c.cloudsYAML, "OS_CLOUD=remint-sim", "CHECKPOINT_DISABLE=1", "PACKER_CACHE_DIR="+filepath.Join(dir, "cache"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "packer build:\n%s", out)
	t.Logf("packer build took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	require.Contains(t, string(out), "built-by-packer")
	manifest := filepath.Join(dir, "packer-manifest.json")

	got, code := p.run(t, ctx, nil, "image", "register", "deb-packer", "--from-packer-manifest", manifest, "--verify", "-f", p.manifest)
	require.Equal(t, 0, code, got)
	t.Logf("remint image register --from-packer-manifest --verify:\n%s", stepLines(got))
	m := regexp.MustCompile(`deb-packer (\d{4}\.\d{2}\.\d+) is active \(image ([0-9a-f-]+)\)`).FindStringSubmatch(got)
	require.NotNil(t, m, got)
	e := p.show(t, ctx, "deb-packer", "latest")
	assert.Equal(t, m[2], e.ImageID)
	assert.Equal(t, "passed", e.Properties["remint_verification"])

	s := p.c.boot(t, ctx, "e2e-from-packer", e.ImageID)
	conn, err := p.c.ssh(ctx, s.AccessIP, p.c.hostKeys(t, ctx, s))
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, "built-by-packer\n", run(t, ctx, conn, "cat", "/etc/packer-built"))

	// Clear errors for the hand-over's bad inputs (exit 2).
	for _, tc := range []struct{ name, content, want string }{
		{"missing.json", "", "no such file"},
		{"empty.json", `{"builds": [], "last_run_uuid": ""}`, "lists no builds"},
		{"docker.json", `{"builds": [{"name": "d", "builder_type": "docker", "build_time": 1, "artifact_id": "sha256:abc", "packer_run_uuid": "r"}], "last_run_uuid": "r"}`, `made by the "docker" builder`},
	} {
		path := filepath.Join(dir, tc.name)
		if tc.content != "" {
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
		}
		got, code := p.run(t, ctx, nil, "image", "register", "deb-packer", "--from-packer-manifest", path, "-f", p.manifest)
		assert.Equal(t, 2, code, got)
		assert.Contains(t, got, tc.want)
		assert.False(t, strings.Contains(got, "connected to OpenStack"), "bad input is refused before the cloud is contacted")
	}
}
