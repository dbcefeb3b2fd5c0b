package openstack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bootServer creates a server on the env's network, deletes it when the test ends, and
// waits until it is ACTIVE.
func bootServer(t *testing.T, e contractEnv, c *Client, name string, md map[string]string) Server {
	t.Helper()
	ctx := e.Ctx(t)
	s, err := c.CreateServer(ctx, ServerSpec{
		Name: e.Name(name), ImageID: e.ImageID(), Flavor: e.Flavor(), Network: e.Network(), KeyName: e.KeyName(),
		UserData: []byte("#cloud-config\n{}\n"), Metadata: md,
	})
	require.NoError(t, err)
	deleteServerWhenDone(t, c, s.ID)
	active, err := c.WaitServerActive(ctx, s.ID)
	require.NoError(t, err)
	return active
}

func TestContractServerLifecycle(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)

	s := bootServer(t, e, c, "web-1", map[string]string{"remint_group": "web", "remint_rollout": "r1"})
	assert.Equal(t, "ACTIVE", s.Status)
	assert.Equal(t, e.Name("web-1"), s.Name)
	assert.Equal(t, e.ImageID(), s.ImageID)
	assert.Equal(t, map[string]string{"remint_group": "web", "remint_rollout": "r1"}, s.Metadata)
	assert.NotEmpty(t, s.AccessIP, "a server on a network has a fixed address")
	assert.NotEmpty(t, s.Addresses)
	assert.NotEmpty(t, s.FlavorName)

	// A second server with other metadata: listing by prefix finds both, metadata one.
	other := bootServer(t, e, c, "web-2", map[string]string{"remint_group": "db"})
	all, err := c.ListServers(ctx, ListServersOpts{NamePrefix: e.Name("web-")})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{s.ID, other.ID}, serverIDs(all))
	web, err := c.ListServers(ctx, ListServersOpts{NamePrefix: e.Name(""), Metadata: map[string]string{"remint_group": "web"}})
	require.NoError(t, err)
	assert.Equal(t, []string{s.ID}, serverIDs(web))

	// Metadata merges and deletes, idempotently.
	require.NoError(t, c.SetServerMetadata(ctx, s.ID, map[string]string{"remint_rollout": "r2", "remint_slot": "a"}))
	require.NoError(t, c.DeleteServerMetadata(ctx, s.ID, "remint_group"))
	require.NoError(t, c.DeleteServerMetadata(ctx, s.ID, "remint_group"))
	got, err := c.GetServer(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"remint_rollout": "r2", "remint_slot": "a"}, got.Metadata)

	// Ports: the server's port carries its fixed address.
	ports, err := c.PortsOfServer(ctx, s.ID)
	require.NoError(t, err)
	require.Len(t, ports, 1)
	assert.Equal(t, s.ID, ports[0].DeviceID)
	assert.Contains(t, ports[0].FixedIPs, s.AccessIP)
	nw, err := c.GetNetwork(ctx, e.Network())
	require.NoError(t, err)
	assert.Equal(t, nw.ID, ports[0].NetworkID)

	_, err = c.ConsoleLog(ctx, s.ID, 20)
	require.NoError(t, err)

	// Reboot (soft and hard) and come back.
	require.NoError(t, c.RebootServer(ctx, s.ID, false))
	_, err = c.WaitServerActive(ctx, s.ID)
	require.NoError(t, err)
	require.NoError(t, c.RebootServer(ctx, s.ID, true))
	_, err = c.WaitServerActive(ctx, s.ID)
	require.NoError(t, err)

	// Snapshot into an image with properties.
	imageID, err := c.CreateServerImage(ctx, s.ID, e.Name("snap"), map[string]string{"remint_family": e.Name("fam")})
	require.NoError(t, err)
	cleanup(t, "delete image "+imageID, func(ctx context.Context) error { return c.DeleteImage(ctx, imageID) })
	im, err := c.WaitImageActive(ctx, imageID)
	require.NoError(t, err)
	assert.Equal(t, e.Name("snap"), im.Name)
	assert.Equal(t, e.Name("fam"), im.Properties["remint_family"])

	// Delete, wait, and deleting again is still success.
	require.NoError(t, c.DeleteServer(ctx, other.ID))
	require.NoError(t, c.WaitServerDeleted(ctx, other.ID))
	_, err = c.GetServer(ctx, other.ID)
	assert.True(t, IsNotFound(err), "%v", err)
	require.NoError(t, c.DeleteServer(ctx, other.ID))
}

func serverIDs(list []Server) []string {
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestContractFlavorsAndLimits(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)

	f, err := c.GetFlavor(ctx, e.Flavor())
	require.NoError(t, err)
	assert.True(t, f.ID == e.Flavor() || f.Name == e.Flavor())
	assert.Positive(t, f.VCPUs)
	assert.Positive(t, f.RAM)
	byID, err := c.GetFlavor(ctx, f.ID)
	require.NoError(t, err)
	assert.Equal(t, f, byID)
	_, err = c.GetFlavor(ctx, e.Name("no-such-flavor"))
	assert.True(t, IsNotFound(err), "%v", err)

	l, err := c.ComputeLimits(ctx)
	require.NoError(t, err)
	assert.NotZero(t, l.MaxInstances)
	assert.GreaterOrEqual(t, l.UsedInstances, 0)
	assert.NotZero(t, l.MaxCores)
	assert.NotZero(t, l.MaxRAM)
}

func TestContractImages(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)
	family := e.Name("family")

	create := func(name string) Image {
		t.Helper()
		im, err := c.CreateImage(ctx, ImageCreate{
			Name: e.Name(name), DiskFormat: "raw", Tags: []string{"remint"},
			Properties: map[string]string{"remint_family": family, "remint_state": "candidate"},
		})
		require.NoError(t, err)
		cleanup(t, "delete image "+im.ID, func(ctx context.Context) error {
			_, _ = c.UpdateImage(ctx, im.ID, ImageUpdate{Protected: new(false)})
			return c.DeleteImage(ctx, im.ID)
		})
		assert.Equal(t, "queued", im.Status)
		require.NoError(t, c.UploadImage(ctx, im.ID, bytes.NewReader(bytes.Repeat([]byte{0}, 4096))))
		active, err := c.WaitImageActive(ctx, im.ID)
		require.NoError(t, err)
		return active
	}
	a := create("img-a")
	b := create("img-b")
	assert.Equal(t, []string{"remint"}, a.Tags)
	assert.Equal(t, "candidate", a.Properties["remint_state"])
	assert.EqualValues(t, 4096, a.Size)

	// Property filter, across pages of one.
	list, err := c.ListImages(ctx, ListImagesOpts{Properties: map[string]string{"remint_family": family}, PageSize: 1, Sort: "name:asc"})
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID, b.ID}, imageIDs(list))

	// JSON patch: upsert, remove, replace tags, hide.
	hidden := true
	up, err := c.UpdateImage(ctx, b.ID, ImageUpdate{
		SetProperties:    map[string]string{"remint_state": "deprecated", "remint_version": "2026.11.1"},
		RemoveProperties: []string{"remint_missing"},
		Tags:             &[]string{"remint", "deprecated"},
		Hidden:           &hidden,
	})
	require.NoError(t, err)
	assert.Equal(t, "deprecated", up.Properties["remint_state"])
	assert.Equal(t, "2026.11.1", up.Properties["remint_version"])
	assert.ElementsMatch(t, []string{"remint", "deprecated"}, up.Tags)
	assert.True(t, up.Hidden)
	up, err = c.UpdateImage(ctx, b.ID, ImageUpdate{RemoveProperties: []string{"remint_version"}})
	require.NoError(t, err)
	assert.NotContains(t, up.Properties, "remint_version")

	visible, err := c.ListImages(ctx, ListImagesOpts{Properties: map[string]string{"remint_family": family}})
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID}, imageIDs(visible), "hidden images drop out of lists")
	withHidden, err := c.ListImages(ctx, ListImagesOpts{Properties: map[string]string{"remint_family": family}, IncludeHidden: true, Sort: "name:desc"})
	require.NoError(t, err)
	assert.Equal(t, []string{b.ID, a.ID}, imageIDs(withHidden))
	tagged, err := c.ListImages(ctx, ListImagesOpts{Properties: map[string]string{"remint_family": family}, Tags: []string{"deprecated"}, IncludeHidden: true})
	require.NoError(t, err)
	assert.Equal(t, []string{b.ID}, imageIDs(tagged))

	// Deactivate and reactivate.
	require.NoError(t, c.DeactivateImage(ctx, a.ID))
	got, err := c.GetImage(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "deactivated", got.Status)
	require.NoError(t, c.ReactivateImage(ctx, a.ID))
	got, err = c.GetImage(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "active", got.Status)

	// A protected image cannot be deleted: 403, terminal.
	_, err = c.UpdateImage(ctx, a.ID, ImageUpdate{Protected: new(true)})
	require.NoError(t, err)
	err = c.DeleteImage(ctx, a.ID)
	require.Error(t, err)
	assert.True(t, IsTerminal(err), "%v", err)
	_, err = c.UpdateImage(ctx, a.ID, ImageUpdate{Protected: new(false)})
	require.NoError(t, err)

	require.NoError(t, c.DeleteImage(ctx, a.ID))
	require.NoError(t, c.DeleteImage(ctx, a.ID), "deleting a deleted image is success")
	_, err = c.GetImage(ctx, a.ID)
	assert.True(t, IsNotFound(err), "%v", err)
}

func TestContractFloatingIPs(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)

	ext, err := c.GetNetwork(ctx, e.ExternalNetwork())
	require.NoError(t, err)
	assert.True(t, ext.External)

	fip, err := c.AllocateFloatingIP(ctx, e.ExternalNetwork(), e.Name("fip"))
	require.NoError(t, err)
	cleanup(t, "release floating IP "+fip.ID, func(ctx context.Context) error { return c.ReleaseFloatingIP(ctx, fip.ID) })
	assert.Equal(t, ext.ID, fip.NetworkID)
	assert.Equal(t, e.Name("fip"), fip.Description)
	assert.Empty(t, fip.PortID)

	found, err := c.FindFloatingIP(ctx, fip.Address)
	require.NoError(t, err)
	assert.Equal(t, fip.ID, found.ID)
	byNet, err := c.ListFloatingIPs(ctx, ListFloatingIPsOpts{NetworkID: ext.ID})
	require.NoError(t, err)
	assert.Contains(t, fipIDs(byNet), fip.ID)

	s1 := bootServer(t, e, c, "fip-1", nil)
	s2 := bootServer(t, e, c, "fip-2", nil)
	p1 := onePort(t, c, ctx, s1.ID)
	p2 := onePort(t, c, ctx, s2.ID)

	// A fresh floating IP is at revision 0, which cannot be guarded (0 means
	// unguarded): this first move is not.
	cur, err := c.GetFloatingIP(ctx, fip.ID)
	require.NoError(t, err)
	moved, err := c.AssociateFloatingIP(ctx, fip.ID, p1.ID, cur.RevisionNumber)
	require.NoError(t, err)
	assert.Equal(t, p1.ID, moved.PortID)
	assert.Equal(t, s1.AccessIP, moved.FixedIP)
	assert.Greater(t, moved.RevisionNumber, cur.RevisionNumber)
	r1 := moved.RevisionNumber
	require.Positive(t, r1)

	// Guarded move with the current revision.
	moved, err = c.AssociateFloatingIP(ctx, fip.ID, p2.ID, r1)
	require.NoError(t, err)
	assert.Equal(t, p2.ID, moved.PortID)
	assert.Greater(t, moved.RevisionNumber, r1)

	// A move guarded by the revision read before the last move loses: 412, not retried.
	_, err = c.AssociateFloatingIP(ctx, fip.ID, p1.ID, r1)
	require.Error(t, err)
	assert.True(t, IsPreconditionFailed(err), "%v", err)
	assert.True(t, IsConflict(err))
	assert.False(t, IsRetryable(err))
	still, err := c.GetFloatingIP(ctx, fip.ID)
	require.NoError(t, err)
	assert.Equal(t, p2.ID, still.PortID, "the stale move changed nothing")
	assert.Equal(t, moved.RevisionNumber, still.RevisionNumber)

	byPort, err := c.ListFloatingIPs(ctx, ListFloatingIPsOpts{PortID: p2.ID})
	require.NoError(t, err)
	assert.Equal(t, []string{fip.ID}, fipIDs(byPort))

	_, err = c.DisassociateFloatingIP(ctx, fip.ID, r1)
	assert.True(t, IsPreconditionFailed(err), "%v", err)
	freed, err := c.DisassociateFloatingIP(ctx, fip.ID, still.RevisionNumber)
	require.NoError(t, err)
	assert.Empty(t, freed.PortID)
	// Unguarded association works too.
	moved, err = c.AssociateFloatingIP(ctx, fip.ID, p1.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, p1.ID, moved.PortID)

	require.NoError(t, c.ReleaseFloatingIP(ctx, fip.ID))
	require.NoError(t, c.ReleaseFloatingIP(ctx, fip.ID), "releasing a released floating IP is success")
	_, err = c.GetFloatingIP(ctx, fip.ID)
	assert.True(t, IsNotFound(err), "%v", err)
	_, err = c.FindFloatingIP(ctx, fip.Address)
	assert.True(t, IsNotFound(err), "%v", err)
}

func onePort(t *testing.T, c *Client, ctx context.Context, serverID string) Port {
	t.Helper()
	ports, err := c.PortsOfServer(ctx, serverID)
	require.NoError(t, err)
	require.Len(t, ports, 1)
	return ports[0]
}

func fipIDs(list []FloatingIP) []string {
	var ids []string
	for _, f := range list {
		ids = append(ids, f.ID)
	}
	return ids
}

func TestContractNotFoundIsSuccessForDeletes(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)
	const missing = "00000000-0000-0000-0000-000000000000"
	require.NoError(t, c.DeleteServer(ctx, missing))
	require.NoError(t, c.DeleteImage(ctx, missing))
	require.NoError(t, c.ReleaseFloatingIP(ctx, missing))
	_, err := c.GetServer(ctx, missing)
	assert.True(t, IsNotFound(err), "%v", err)
	assert.False(t, IsRetryable(err))
	assert.Contains(t, err.Error(), "get server "+missing)
	_, err = c.GetImage(ctx, missing)
	assert.True(t, IsNotFound(err), "%v", err)
	_, err = c.GetFloatingIP(ctx, missing)
	assert.True(t, IsNotFound(err), "%v", err)
	_, err = c.GetNetwork(ctx, e.Name("no-such-network"))
	assert.True(t, IsNotFound(err), "%v", err)
}

func TestContractBadRequestIsTerminal(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)
	_, err := c.CreateServer(ctx, ServerSpec{Name: e.Name("bad"), ImageID: "00000000-0000-0000-0000-000000000000", Flavor: e.Flavor()})
	require.Error(t, err)
	assert.True(t, IsTerminal(err), "%v", err)
	assert.Contains(t, err.Error(), "HTTP 400")
}

// TestContractReauthenticates revokes the client's token behind its back: the next
// call is answered 401 and gophercloud authenticates again.
func TestContractReauthenticates(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)
	_, err := c.GetFlavor(ctx, e.Flavor())
	require.NoError(t, err)

	old := c.provider.Token()
	identity, err := gos.NewIdentityV3(c.provider, gophercloud.EndpointOpts{})
	require.NoError(t, err)
	require.NoError(t, tokens.Revoke(ctx, identity, old).Err)

	_, err = c.ComputeLimits(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, old, c.provider.Token())
}

func TestContractStatsCountAPICalls(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)
	before := c.Stats()
	_, err := c.ComputeLimits(ctx)
	require.NoError(t, err)
	_, err = c.ListFloatingIPs(ctx, ListFloatingIPsOpts{})
	require.NoError(t, err)
	assert.Equal(t, before.APICalls+2, c.Stats().APICalls)
}

// --- fault injection: simulator only ---

func TestContractFaultServerCreate503HonoursRetryAfter(t *testing.T) {
	e := newContractEnv(t)
	s := requireSim(t, e)
	c := e.Client(t)
	ctx := e.Ctx(t)
	_, err := c.GetFlavor(ctx, e.Flavor()) // resolve before timing
	require.NoError(t, err)
	_, err = c.GetNetwork(ctx, e.Network())
	require.NoError(t, err)

	s.Faults().Set("compute.server.create", sim.FaultRule{ErrorRate: 1, Status: 503, RetryAfter: time.Second, Times: 2})
	start := time.Now()
	srv, err := c.CreateServer(ctx, ServerSpec{Name: e.Name("retry"), ImageID: e.ImageID(), Flavor: e.Flavor(), Network: e.Network()})
	require.NoError(t, err)
	deleteServerWhenDone(t, c, srv.ID)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "two Retry-After: 1 answers were honoured")
	assert.EqualValues(t, 3, s.Calls()["compute.server.create"])
	all, err := c.ListServers(ctx, ListServersOpts{NamePrefix: e.Name("retry")})
	require.NoError(t, err)
	assert.Len(t, all, 1, "no duplicate server")
}

func TestContractFault429HonoursRetryAfter(t *testing.T) {
	e := newContractEnv(t)
	s := requireSim(t, e)
	c := e.Client(t)
	ctx := e.Ctx(t)
	s.Faults().Set("network.floatingip.list", sim.FaultRule{RateLimitRate: 1, RetryAfter: time.Second, Times: 1})
	start := time.Now()
	_, err := c.ListFloatingIPs(ctx, ListFloatingIPsOpts{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	assert.EqualValues(t, 2, s.Calls()["network.floatingip.list"])
	assert.EqualValues(t, 1, c.Stats().Retries)
}

func TestContractFault500(t *testing.T) {
	e := newContractEnv(t)
	s := requireSim(t, e)
	c := e.Client(t)
	ctx := e.Ctx(t)

	// Reads back off and succeed.
	s.Faults().Set("image.image.list", sim.FaultRule{ErrorRate: 1, Status: 500, Times: 3})
	_, err := c.ListImages(ctx, ListImagesOpts{})
	require.NoError(t, err)
	assert.EqualValues(t, 4, s.Calls()["image.image.list"])

	// A create that failed with 500 may have happened: it is not sent again.
	s.Faults().Set("network.floatingip.create", sim.FaultRule{ErrorRate: 1, Status: 500, Times: 1})
	_, err = c.AllocateFloatingIP(ctx, e.ExternalNetwork(), e.Name("fip"))
	require.Error(t, err)
	assert.True(t, IsRetryable(err))
	assert.False(t, IsTerminal(err))
	assert.EqualValues(t, 1, s.Calls()["network.floatingip.create"])
	assert.Contains(t, err.Error(), "allocate floating IP on network "+sim.SeedPublicNetwork)
	assert.Contains(t, err.Error(), "HTTP 500")

	// A budget that runs out returns the last error.
	s.Faults().Set("compute.limits.get", sim.FaultRule{ErrorRate: 1, Status: 502})
	short := e.Client(t)
	short.policy.Max = 300 * time.Millisecond
	_, err = short.ComputeLimits(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up after")
}

func TestContractFaultServerErrorIsTerminal(t *testing.T) {
	e := newContractEnv(t)
	s := requireSim(t, e)
	c := e.Client(t)
	ctx := e.Ctx(t)
	s.Faults().Set("compute.server.boot", sim.FaultRule{ErrorRate: 1, Times: 1})
	srv, err := c.CreateServer(ctx, ServerSpec{Name: e.Name("doomed"), ImageID: e.ImageID(), Flavor: e.Flavor(), Network: e.Network()})
	require.NoError(t, err)
	deleteServerWhenDone(t, c, srv.ID)
	got, err := c.WaitServerActive(ctx, srv.ID)
	require.Error(t, err)
	assert.True(t, IsTerminal(err), "%v", err)
	assert.Equal(t, "ERROR", got.Status)
	assert.NotEmpty(t, got.Fault)
	assert.Contains(t, err.Error(), got.Fault)
}

func TestContractAppCredentialAuth(t *testing.T) {
	e := newContractEnv(t)
	s := requireSim(t, e)
	id, secret := s.CreateAppCredential(e.Name("appcred"))
	doc := strings.Join([]string{
		"clouds:",
		"  sim-appcred:",
		"    auth_type: v3applicationcredential",
		"    auth:",
		"      auth_url: " + s.AuthURL(),
		"      application_credential_id: " + id,
		"      application_credential_secret: " + secret,
		"    region_name: " + s.Region(),
		"    interface: public",
		"",
	}, "\n")
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	c, err := Connect(e.Ctx(t), ConnectOptions{Cloud: "sim-appcred", CloudsFile: path, Retry: contractPolicy})
	require.NoError(t, err)
	_, err = c.GetFlavor(e.Ctx(t), e.Flavor())
	require.NoError(t, err)

	_, err = Connect(e.Ctx(t), ConnectOptions{Cloud: "sim-appcred", CloudsFile: writeReplaced(t, path, secret, "wrong"), Retry: contractPolicy})
	require.Error(t, err)
	assert.True(t, IsTerminal(err), "%v", err)
	assert.NotContains(t, err.Error(), "wrong")
}

func writeReplaced(t *testing.T, path, old, repl string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(out, bytes.ReplaceAll(b, []byte(old), []byte(repl)), 0o600))
	return out
}

// TestContractEnvironmentAuth connects with OS_* variables only. Not parallel: it sets
// the process environment, so it builds its own simulator.
func TestContractEnvironmentAuth(t *testing.T) {
	if os.Getenv("REMINT_TEST_CLOUD") != "" {
		t.Skip("uses the simulator's credentials (REMINT_TEST_CLOUD is set)")
	}
	s := sim.New(sim.Config{})
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.Seed(ctx)
	require.NoError(t, err)
	user, pass, project := s.Credentials()
	for _, k := range []string{"OS_CLOUD", "OS_CLIENT_CONFIG_FILE", "OS_PROJECT_ID", "OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_ID",
		"OS_DOMAIN_ID", "OS_DOMAIN_NAME", "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_NAME",
		"OS_APPLICATION_CREDENTIAL_SECRET", "OS_CACERT", "OS_CERT", "OS_KEY", "OS_INSECURE", "OS_ENDPOINT_TYPE"} {
		t.Setenv(k, "")
	}
	t.Setenv("OS_AUTH_URL", s.AuthURL())
	t.Setenv("OS_USERNAME", user)
	t.Setenv("OS_PASSWORD", pass)
	t.Setenv("OS_PROJECT_NAME", project)
	t.Setenv("OS_USER_DOMAIN_NAME", "Default")
	t.Setenv("OS_PROJECT_DOMAIN_NAME", "Default")
	t.Setenv("OS_REGION_NAME", s.Region())
	t.Setenv("OS_INTERFACE", "public")
	c, err := Connect(ctx, ConnectOptions{Retry: contractPolicy})
	require.NoError(t, err)
	list, err := c.ListImages(ctx, ListImagesOpts{Name: sim.SeedImageName})
	require.NoError(t, err)
	require.Len(t, list, 1)

	// The same with an application credential from the environment.
	id, secret := s.CreateAppCredential("env")
	t.Setenv("OS_USERNAME", "")
	t.Setenv("OS_PASSWORD", "")
	t.Setenv("OS_APPLICATION_CREDENTIAL_ID", id)
	t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", secret)
	c, err = Connect(ctx, ConnectOptions{Retry: contractPolicy})
	require.NoError(t, err)
	_, err = c.GetNetwork(ctx, sim.SeedPrivateNetwork)
	require.NoError(t, err)

	// A wrong region finds no endpoint.
	t.Setenv("OS_REGION_NAME", "Nowhere")
	_, err = Connect(ctx, ConnectOptions{Retry: contractPolicy})
	require.ErrorContains(t, err, `region "Nowhere"`)
}

// The batched calls a rollout polls with: servers changed since a time (deleted ones as
// DELETED), and the ports of many servers in one query.
func TestContractBatchedServerChangesAndPorts(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)

	a := bootServer(t, e, c, "batch-a", nil)
	b := bootServer(t, e, c, "batch-b", nil)
	opts := ListServersOpts{NamePrefix: e.Name("batch-")}
	all, err := c.ListServersChangedSince(ctx, opts, time.Time{})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a.ID, b.ID}, serverIDs(all))
	// The watermark comes from Nova's own clock, a second back (whole-second timestamps).
	since := a.Updated
	if b.Updated.After(since) {
		since = b.Updated
	}
	since = since.Add(-time.Second)

	ports, err := c.PortsOfServers(ctx, []string{a.ID, b.ID, "00000000-0000-0000-0000-000000000000"})
	require.NoError(t, err)
	require.Len(t, ports, 2, "a server without ports maps to nothing")
	for _, s := range []Server{a, b} {
		require.Len(t, ports[s.ID], 1)
		assert.Contains(t, ports[s.ID][0].FixedIPs, s.AccessIP)
	}

	require.NoError(t, c.DeleteServer(ctx, b.ID))
	require.NoError(t, c.WaitServerDeleted(ctx, b.ID))
	changed, err := c.ListServersChangedSince(ctx, opts, since)
	require.NoError(t, err)
	status := map[string]string{}
	for _, s := range changed {
		status[s.ID] = s.Status
	}
	assert.Equal(t, "DELETED", status[b.ID], "a deleted server is listed by changes-since")
	later, err := c.ListServersChangedSince(ctx, opts, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, later)
}

// The client knows the Keystone project its token is scoped to, and still after it
// re-authenticated.
func TestContractProjectID(t *testing.T) {
	e := newContractEnv(t)
	c := e.Client(t)
	ctx := e.Ctx(t)
	id, err := c.ProjectID()
	require.NoError(t, err)
	require.NotEmpty(t, id)
	identity, err := gos.NewIdentityV3(c.provider, gophercloud.EndpointOpts{})
	require.NoError(t, err)
	require.NoError(t, tokens.Revoke(ctx, identity, c.provider.Token()).Err)
	_, err = c.ComputeLimits(ctx)
	require.NoError(t, err)
	again, err := c.ProjectID()
	require.NoError(t, err)
	require.Equal(t, id, again)
}
