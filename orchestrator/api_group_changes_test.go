package orchestrator

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/store"
)

// TestAdoptForgetRetireAPIOnSimulator drives the changes the API makes within the
// request, as `remint group adopt|forget --server` and `remint image retire --server` do:
// adopt takes servers created behind remint's back (a pet too), forget drops what the
// cloud lost and refuses a pet, both hold the group's lease (409 naming the holder while
// another process has it, after waiting for it when asked), and retire keeps N versions
// (a dry run changes nothing). Every answer is what openapi.json says.
func TestAdoptForgetRetireAPIOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	e := startAPIEnv(t)
	ctx := context.Background()
	c := e.client
	var bad BadRequestError

	// Servers made with the OpenStack API, named as remint names its slots.
	ids := map[string]string{}
	for _, name := range []string{"web-0", "web-1", "db-0"} {
		s, err := e.cloud.Client.CreateServer(ctx, openstack.ServerSpec{Name: name, ImageID: e.cloud.Seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
		require.NoError(t, err)
		_, err = e.cloud.Client.WaitServerActive(ctx, s.ID)
		require.NoError(t, err)
		ids[name] = s.ID
	}

	res, err := c.AdoptGroup(ctx, "web", AdoptRequest{})
	require.NoError(t, err)
	require.Equal(t, "web", res.Group)
	require.Len(t, res.Adopted, 2)
	require.Equal(t, ids["web-0"], res.Adopted[0].ServerID)
	require.Equal(t, ids["web-1"], res.Adopted[1].ServerID)
	require.Equal(t, []string{}, res.Notes)
	pet, err := c.AdoptGroup(ctx, "db", AdoptRequest{})
	require.NoError(t, err, "adopting records servers: pets too")
	require.Len(t, pet.Adopted, 1)
	slots, err := e.st.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, slots, 2)

	// Forget: nothing is gone; a pet is refused as locally; then a server is deleted.
	f, err := c.ForgetGroup(ctx, "web", ForgetRequest{})
	require.NoError(t, err)
	require.Equal(t, ForgetResult{Group: "web", Forgotten: []failover.Forgotten{}}, f)
	_, err = c.ForgetGroup(ctx, "db", ForgetRequest{})
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "group db is not replaceable (replaceable: false)")
	require.NoError(t, e.cloud.Client.DeleteServer(ctx, ids["web-1"]))
	require.Eventually(t, func() bool {
		_, err := e.cloud.Client.GetServer(ctx, ids["web-1"])
		return openstack.IsNotFound(err)
	}, 10*time.Second, 20*time.Millisecond)
	f, err = c.ForgetGroup(ctx, "web", ForgetRequest{})
	require.NoError(t, err)
	require.Len(t, f.Forgotten, 1)
	require.Equal(t, ids["web-1"], f.Forgotten[0].ID)
	require.True(t, f.Forgotten[0].Missing)
	slots, err = e.st.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, slots, 1)
	require.Equal(t, ids["web-0"], slots[0].ServerID, "what exists is kept")

	// Another process changes web: adopt and forget are refused, naming it; waiting
	// for it outlasts a short hold.
	holder := &lease.Manager{Store: e.st, TTL: 30 * time.Second, Holder: store.LeaseHolder{Host: "ci", PID: 42, Command: "remint rebuild web"}}
	held, err := holder.Acquire(ctx, lease.GroupKey("web"))
	require.NoError(t, err)
	_, err = c.AdoptGroup(ctx, "web", AdoptRequest{})
	require.ErrorContains(t, err, "group web is being changed by `remint rebuild web` (pid 42 on host ci)")
	require.ErrorContains(t, err, "wait with --wait-lock 10m or retry later")
	_, err = c.ForgetGroup(ctx, "web", ForgetRequest{All: true})
	require.ErrorContains(t, err, "group web is being changed by `remint rebuild web`")
	slots, err = e.st.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, slots, 1, "a refused forget --all dropped nothing")
	go func() {
		time.Sleep(300 * time.Millisecond)
		held.Release(context.Background())
	}()
	res, err = c.AdoptGroup(ctx, "web", AdoptRequest{WaitLockSeconds: 20})
	require.NoError(t, err, "adopt waits for the lease when asked")
	require.Len(t, res.Adopted, 1)
	require.Equal(t, []string{"slot web-1: no server (the next rebuild creates one)"}, res.Notes)
	for _, secs := range []int{-1, 3601} {
		_, err = c.AdoptGroup(ctx, "web", AdoptRequest{WaitLockSeconds: secs})
		require.ErrorAs(t, err, &bad)
		require.ErrorContains(t, err, "wait_lock_seconds")
	}
	f, err = c.ForgetGroup(ctx, "web", ForgetRequest{All: true})
	require.NoError(t, err)
	require.Len(t, f.Forgotten, 1)
	require.False(t, f.Forgotten[0].Missing, "--all drops what still exists")
	servers, err := e.cloud.Client.ListServers(ctx, openstack.ListServersOpts{NamePrefix: "web-"})
	require.NoError(t, err)
	require.Len(t, servers, 1, "forget touches nothing in the cloud")

	// Retire: three versions, keep one.
	pkgs := []debian.Package{{Name: "curl", Version: "7.88.1-10"}}
	first := e.snapshot(t, "debian-12-a", pkgs)
	e.snapshot(t, "debian-12-b", pkgs)
	e.snapshot(t, "debian-12-c", pkgs)
	dry, err := c.RetireImages(ctx, "debian-12", RetireRequest{Keep: 1, DryRun: true})
	require.NoError(t, err)
	require.True(t, dry.DryRun)
	require.Equal(t, 1, dry.Keep)
	require.Len(t, dry.Notes, 4, "two retired, two deleted: %v", dry.Notes)
	imgs, err := c.Images(ctx, "debian-12")
	require.NoError(t, err)
	for _, im := range imgs {
		require.NotEqual(t, "retired", im.State, "a dry run changes nothing")
	}
	// The pet still boots from the seed; a server on the first version keeps it.
	_, err = e.cloud.Client.CreateServer(ctx, openstack.ServerSpec{Name: "other-0", ImageID: first, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	done, err := c.RetireImages(ctx, "debian-12", RetireRequest{Keep: 1})
	require.NoError(t, err)
	require.False(t, done.DryRun)
	require.Contains(t, done.Notes, "debian-12 "+imgs[2].Version+" (image "+first+") kept: a server still uses it")
	again, err := c.RetireImages(ctx, "debian-12", RetireRequest{})
	require.NoError(t, err)
	require.Equal(t, 3, again.Keep, "the family's retention (the default, 3)")
	_, err = c.RetireImages(ctx, "debian-12", RetireRequest{Keep: -1})
	require.ErrorAs(t, err, &bad)
	_, err = c.RetireImages(ctx, "ubuntu", RetireRequest{})
	require.ErrorIs(t, err, ErrNotFound)

	// The answers are what openapi.json says they are.
	held, err = holder.Acquire(ctx, lease.GroupKey("web"))
	require.NoError(t, err)
	for _, r := range []struct {
		pattern, path, body string
		status              int
	}{
		{"POST /v1/groups/{name}/adopt", "/v1/groups/db/adopt", "", 200},
		{"POST /v1/groups/{name}/adopt", "/v1/groups/web/adopt", `{"wait_lock_seconds":0}`, 409},
		{"POST /v1/groups/{name}/adopt", "/v1/groups/nope/adopt", "", 404},
		{"POST /v1/groups/{name}/adopt", "/v1/groups/db/adopt", `{"wait":1}`, 400},
		{"POST /v1/groups/{name}/forget", "/v1/groups/web/forget", `{"all":true}`, 409},
		{"POST /v1/groups/{name}/forget", "/v1/groups/db/forget", "", 400},
		{"POST /v1/images/{family}/retire", "/v1/images/debian-12/retire", `{"keep":2,"dry_run":true}`, 200},
		{"POST /v1/images/{family}/retire", "/v1/images/ubuntu/retire", "", 404},
	} {
		status, body := rawBody(t, http.MethodPost, e.srv.URL+r.path, r.body)
		require.Equal(t, r.status, status, "%s: %s", r.path, body)
		requireDocumented(t, r.pattern, status, body)
	}
	held.Release(ctx)
	status, body := rawBody(t, http.MethodPost, e.srv.URL+"/v1/groups/web/forget", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	requireDocumented(t, "POST /v1/groups/{name}/forget", status, body)
}
