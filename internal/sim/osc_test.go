package sim_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/sim"
	"github.com/stretchr/testify/require"
)

// osc runs the real OpenStack command-line client (python3-openstackclient) against a
// simulator and decodes its JSON output.
type osc struct {
	t   *testing.T
	env []string
}

func (o osc) run(args ...string) string {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openstack", args...)
	cmd.Env = o.env
	out, err := cmd.CombinedOutput()
	require.NoError(o.t, err, "openstack %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

func (o osc) json(v any, args ...string) {
	o.t.Helper()
	out := o.run(append(args, "-f", "json")...)
	require.NoError(o.t, json.Unmarshal([]byte(out), v), "openstack %s: not JSON:\n%s", strings.Join(args, " "), out)
}

// TestOpenStackCLI drives the simulator with the standard openstack CLI, as an operator
// would: the simulator must serve real clients, not only remint.
func TestOpenStackCLI(t *testing.T) {
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is missing: install python3-openstackclient (make test does it as root: scripts/deps.sh test)")
	}
	t.Parallel()
	s := sim.New(sim.Config{BootTime: 100 * time.Millisecond})
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Close() })
	_, err := s.Seed(context.Background())
	require.NoError(t, err)
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	require.NoError(t, os.WriteFile(clouds, s.CloudsYAML("remint-sim"), 0o600))
	o := osc{t: t, env: append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+clouds, "OS_CLOUD=remint-sim", "HOME="+dir)}

	var token map[string]any
	o.json(&token, "token", "issue")
	require.NotEmpty(t, token["id"])
	require.NotEmpty(t, token["project_id"])

	var srv map[string]any
	o.json(&srv, "server", "create", "--image", "debian-12", "--flavor", "m1.small", "--network", "private",
		"--key-name", "remint", "--property", "role=web", "--wait", "web-0")
	require.Equal(t, "ACTIVE", srv["status"])
	serverID := srv["id"].(string)

	var servers []map[string]any
	o.json(&servers, "server", "list")
	require.Len(t, servers, 1)
	require.Equal(t, "web-0", servers[0]["Name"])
	require.Contains(t, servers[0]["Networks"], "private")

	var shown map[string]any
	o.json(&shown, "server", "show", "web-0")
	require.Equal(t, serverID, shown["id"])
	require.Equal(t, "remint", shown["key_name"])

	var img map[string]any
	o.json(&img, "image", "create", "--property", "remint_family=debian-12", "--tag", "remint", "--private", "build-1")
	imageID := img["id"].(string)
	o.run("image", "set", "--property", "remint_state=active", "--tag", "verified", imageID)
	var imgShown map[string]any
	o.json(&imgShown, "image", "show", imageID)
	require.Equal(t, "active", imgShown["properties"].(map[string]any)["remint_state"])
	require.ElementsMatch(t, []any{"remint", "verified"}, imgShown["tags"])
	var imgs []map[string]any
	o.json(&imgs, "image", "list", "--property", "remint_family=debian-12")
	require.Len(t, imgs, 1)
	require.Equal(t, imageID, imgs[0]["ID"])
	o.json(&imgs, "image", "list")
	require.Len(t, imgs, 2, "the seeded debian-12 image and build-1")

	var fip map[string]any
	o.json(&fip, "floating", "ip", "create", "public")
	fipID := fip["id"].(string)
	require.Empty(t, fip["port_id"])

	var ports []map[string]any
	o.json(&ports, "port", "list", "--device-id", serverID)
	require.Len(t, ports, 1)
	portID := ports[0]["ID"].(string)

	o.run("floating", "ip", "set", "--port", portID, fipID)
	o.json(&fip, "floating", "ip", "show", fipID)
	require.Equal(t, portID, fip["port_id"])
	require.NotEmpty(t, fip["fixed_ip_address"])
	var fips []map[string]any
	o.json(&fips, "floating", "ip", "list")
	require.Len(t, fips, 1)

	o.run("floating", "ip", "unset", "--port", fipID)
	o.json(&fip, "floating", "ip", "show", fipID)
	require.Empty(t, fip["port_id"])

	o.run("server", "delete", "--wait", "web-0")
	o.json(&servers, "server", "list")
	require.Empty(t, servers)
	o.run("floating", "ip", "delete", fipID)
}
