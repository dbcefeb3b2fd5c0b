package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simclient"
	"github.com/remint-dev/remint/internal/store"
)

const apiManifest = `cloud: remint-sim
state: state.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  web:
    count: 2
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    key_name: remint
    failover:
      addresses:
        - allocate_from: public
    health:
      http: {port: 8080, path: /healthz, body: ok}
      interval: 50ms
      healthy_threshold: 2
      deadline: 30s
    rollout:
      keep_old: 1h
  db:
    count: 1
    replaceable: false
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
`

// simState starts the simulator (loopback driver: servers answer health checks, floating
// IPs forward) with a state file beside the manifest text mf: the world the simulator
// tests of the API, the queue and the window run in. It returns the state file's path too.
func simState(t *testing.T, mf string) (*simclient.Cloud, *manifest.Manifest, *store.Store, string) {
	t.Helper()
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	cloud := simclient.Start(t, simclient.Options{Sim: sim.Config{Driver: driver, BootTime: 50 * time.Millisecond, ImageSaveTime: 20 * time.Millisecond}})
	dir := t.TempDir()
	file := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(file, []byte(mf), 0o644))
	m, err := manifest.Load(file)
	require.NoError(t, err)
	path := filepath.Join(dir, "state.db")
	st, err := store.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return cloud, m, st, path
}

// apiEnv is remint serve's API over real HTTP on a real queue and state store, with the
// group and image endpoints on the simulator (loopback driver: servers answer health
// checks, floating IPs forward) reached through gophercloud.
type apiEnv struct {
	cloud  *simclient.Cloud
	cat    *catalog.Catalog
	client *Client
	srv    *httptest.Server
	st     *store.Store
}

func startAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	cloud, m, st, _ := simState(t, apiManifest)
	ctx := context.Background()

	deps := func(group string, records bool, sink func(failover.Event)) (failover.Deps, error) {
		g := m.Groups[group]
		spec, err := failover.SpecFromGroup(g)
		if err != nil && records && !g.IsReplaceable() {
			spec, err = failover.RecordSpec(g)
		}
		if err != nil {
			return failover.Deps{}, err
		}
		prober, pol, gate, err := failover.ProbesFor(spec, nil)
		if err != nil {
			return failover.Deps{}, err
		}
		return failover.Deps{
			Options: failover.Options{Cloud: cloud.Client, Store: st, Spec: spec, Prober: prober, Policy: pol, Gate: gate, Events: sink},
			Leases:  &lease.Manager{Store: st, TTL: 2 * time.Second, Wait: 10 * time.Second, Holder: store.LeaseHolder{Host: "test", PID: 1}},
			Catalog: catalog.New(cloud.Client), Images: cloud.Client,
		}, nil
	}
	jobDeps := func(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error) {
		return deps(group, false, sink)
	}
	groups := func(name string) bool { _, ok := m.Groups[name]; return ok }
	reg := Registry{
		KindRebuild:  RebuildHandler{Groups: groups, Deps: jobDeps},
		KindRollback: RollbackHandler{Groups: groups, Deps: jobDeps},
		// The image pipeline itself is imagebuild's (tested on real hosts there); here the
		// endpoint's job is what matters.
		KindBuildImage: BuildImageHandler{
			Families: func(name string) bool { _, ok := m.Families[name]; return ok },
			Build: func(ctx context.Context, family string, o BuildImageOptions, step func(imagebuild.Event)) (imagebuild.Result, error) {
				step(imagebuild.Event{Step: "check-changes", Status: "done"})
				return imagebuild.Result{Status: "skipped", SkipReason: "nothing changed since the active version"}, nil
			},
		},
	}
	q, err := NewQueue(ctx, st, reg, QueueConfig{Workers: 2, PollInterval: 20 * time.Millisecond, LeaseTTL: 2 * time.Second})
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })

	fleet := &Fleet{Manifest: m, Store: st,
		Deps: func(ctx context.Context, group string, records bool) (failover.Deps, error) {
			return deps(group, records, nil)
		},
		Change: func(ctx context.Context, group, command string, wait time.Duration) (failover.Deps, error) {
			spec, err := failover.RecordSpec(m.Groups[group])
			if err != nil {
				return failover.Deps{}, err
			}
			return failover.Deps{
				Options: failover.Options{Cloud: cloud.Client, Store: st, Spec: spec},
				Leases:  &lease.Manager{Store: st, TTL: 2 * time.Second, Wait: wait, Holder: store.LeaseHolder{Host: "test", PID: 1, Command: command}},
				Catalog: catalog.New(cloud.Client), Images: cloud.Client,
			}, nil
		},
		Cloud: func(context.Context) (*openstack.Client, error) { return cloud.Client, nil }}
	h := API{Jobs: Local{q}, Groups: fleet, Images: fleet}.Handler()
	// As the access middleware does: a verified token's principal in the context.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := r.Header.Get("X-Test-Principal"); name != "" {
			r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Name: name}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &apiEnv{cloud: cloud, cat: catalog.New(cloud.Client), client: &Client{Base: srv.URL}, srv: srv, st: st}
}

// snapshot makes an image of a fresh server; with packages it is added as a built,
// verified candidate and promoted (as remint image build does), without it is left for
// the register endpoint.
func (e *apiEnv) snapshot(t *testing.T, name string, packages []debian.Package) string {
	t.Helper()
	ctx := context.Background()
	c := e.cloud.Client
	b, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "builder-" + name, ImageID: e.cloud.Seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, b.ID)
	require.NoError(t, err)
	id, err := c.CreateServerImage(ctx, b.ID, name, nil)
	require.NoError(t, err)
	_, err = c.WaitImageActive(ctx, id)
	require.NoError(t, err)
	require.NoError(t, c.DeleteServer(ctx, b.ID))
	if packages == nil {
		return id
	}
	_, err = e.cat.AddCandidate(ctx, "debian-12", id, catalog.Build{ID: "b-" + name, BuiltAt: time.Now(), Packages: packages}, time.Now())
	require.NoError(t, err)
	_, err = e.cat.MarkVerification(ctx, id, true, "booted and healthy", time.Now())
	require.NoError(t, err)
	_, _, err = e.cat.Promote(ctx, id, time.Now())
	require.NoError(t, err)
	return id
}

// follow reads a job's events as the CLI's --server mode does, until the job ends.
func follow(t *testing.T, c *Client, id int64) (Job, []NumberedEvent) {
	t.Helper()
	var all []NumberedEvent
	after := 0
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		page, err := c.Events(context.Background(), id, after)
		require.NoError(t, err)
		for _, e := range page.Events {
			require.Equal(t, after+1, e.Seq, "events arrive in order, each once")
			after = e.Seq
			all = append(all, e)
		}
		require.Equal(t, after, page.Next)
		if page.Done {
			j, err := c.Get(context.Background(), id)
			require.NoError(t, err)
			return j, all
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %d did not end", id)
	return Job{}, nil
}

// getJSON does a raw request and decodes the answer, returning the status.
func rawJSON(t *testing.T, method, url, body string, header map[string]string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	return resp.StatusCode
}

// TestGroupAndImageAPIOnSimulator drives the group and image endpoints the way the CLI's
// --server mode and the console do: catalog reads, register, diff, rebuild and rollback
// jobs followed through their events, revoke, and the error answers (400, 404, 409).
func TestGroupAndImageAPIOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	e := startAPIEnv(t)
	ctx := context.Background()
	c := e.client

	// Images: one built with a package list, one registered through the API, one more built.
	e.snapshot(t, "debian-12-a", []debian.Package{{Name: "openssl", Version: "3.0.11-1", Suite: "bookworm"}, {Name: "curl", Version: "7.88.1-10"}})
	regID := e.snapshot(t, "debian-12-b", nil)
	var bad BadRequestError
	packer := `{"builds":[{"name":"openstack","builder_type":"openstack","build_time":1,"artifact_id":"` + regID + `","packer_run_uuid":"r1"}],"last_run_uuid":"r1"}`
	ch, err := c.RegisterImage(ctx, "debian-12", RegisterRequest{PackerManifest: json.RawMessage(packer)})
	require.NoError(t, err)
	require.NotNil(t, ch.Entry)
	require.Equal(t, regID, ch.Entry.ImageID)
	require.Equal(t, "active", ch.Entry.State)
	require.Contains(t, ch.Notes[0], "registered as debian-12")
	_, err = c.RegisterImage(ctx, "debian-12", RegisterRequest{Image: "debian-12-b"})
	require.ErrorContains(t, err, "is in the catalog already, as debian-12 "+ch.Entry.Version+" (active)")
	_, err = c.RegisterImage(ctx, "debian-12", RegisterRequest{Image: regID, PackerManifest: json.RawMessage(packer)})
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "not both")
	_, err = c.RegisterImage(ctx, "debian-12", RegisterRequest{PackerManifest: json.RawMessage(`{"builds":[{"name":"d","builder_type":"docker","artifact_id":"sha256:1"}]}`)})
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, `packer_manifest: the newest build "d" was made by the "docker" builder`)
	var conflict apiError
	require.Equal(t, http.StatusConflict, rawJSON(t, http.MethodPost, e.srv.URL+"/v1/images/debian-12/register", `{"image":"`+regID+`"}`, nil, &conflict))
	_, err = c.RegisterImage(ctx, "debian-12", RegisterRequest{Image: "no-such-image"})
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "no-such-image")
	_, err = c.RegisterImage(ctx, "debian-12", RegisterRequest{Image: regID, Verify: true})
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "--verify")
	e.snapshot(t, "debian-12-c", []debian.Package{{Name: "openssl", Version: "3.0.11-1+deb12u1", Suite: "bookworm-security"}, {Name: "curl", Version: "7.88.1-10"}, {Name: "jq", Version: "1.6-2.1"}})

	imgs, err := c.Images(ctx, "")
	require.NoError(t, err)
	require.Len(t, imgs, 3)
	v1, v2, v3 := imgs[2], imgs[1], imgs[0]
	assert.Equal(t, "active", v3.State)
	assert.Equal(t, "deprecated", v1.State)
	assert.Equal(t, catalog.VerificationPassed, v1.Verification)
	assert.NotEmpty(t, v1.BuiltAt)
	assert.Empty(t, v2.BuiltAt, "registered, not built")
	latest, err := c.Image(ctx, "debian-12", "latest")
	require.NoError(t, err)
	require.Equal(t, v3.Version, latest.Version)
	_, err = c.Image(ctx, "debian-12", "2020.01.1")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, v1.Version, "the 404 names the versions there are")
	_, err = c.Images(ctx, "ubuntu")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "image families: debian-12")
	_, err = c.Image(ctx, "debian-12", "2026-11")
	require.ErrorAs(t, err, &bad)

	diff, err := c.DiffImages(ctx, "debian-12", v1.Version, "latest")
	require.NoError(t, err)
	require.Equal(t, ImageDiff{Family: "debian-12", From: v1.Version, To: v3.Version, Changes: []debian.Change{
		{Name: "jq", To: "1.6-2.1"},
		{Name: "openssl", From: "3.0.11-1", To: "3.0.11-1+deb12u1", Suite: "bookworm-security", Security: true},
	}}, diff)
	_, err = c.DiffImages(ctx, "debian-12", v2.Version, "latest")
	require.ErrorAs(t, err, &bad, "a registered image has no package list")
	require.ErrorContains(t, err, "no package list recorded")

	// Groups before anything is deployed.
	groups, err := c.Groups(ctx)
	require.NoError(t, err)
	require.Len(t, groups, 2)
	assert.Equal(t, "db", groups[0].Name)
	assert.False(t, groups[0].Replaceable)
	assert.Equal(t, HealthSummary{Empty: 1}, groups[0].Health)
	assert.Equal(t, GroupInfo{Name: "web", Replaceable: true, Count: 2, Family: "debian-12"}, groups[1].GroupInfo)
	assert.Equal(t, HealthSummary{Empty: 2}, groups[1].Health)
	assert.Empty(t, groups[1].Error)

	_, err = c.Group(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, `group "nope" is not in the manifest (groups: db, web)`)
	_, err = c.Rebuild(ctx, "db", RebuildOptions{})
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "not replaceable")
	_, err = c.Rebuild(ctx, "web", RebuildOptions{Image: "newest"})
	require.ErrorAs(t, err, &bad)
	var errBody apiError
	require.Equal(t, http.StatusBadRequest, rawJSON(t, http.MethodPost, e.srv.URL+"/v1/groups/web/rebuild", `{"colour":"red"}`, nil, &errBody))
	require.Contains(t, errBody.Error, `unknown field "colour"`)

	// First deploy: a rebuild job, refused a second time while it runs, followed to the end.
	j, err := c.Rebuild(ctx, "web", RebuildOptions{})
	require.NoError(t, err)
	require.Equal(t, KindRebuild, j.Kind)
	require.Equal(t, "api", j.RequestedBy)
	var busy apiError
	require.Equal(t, http.StatusConflict, rawJSON(t, http.MethodPost, e.srv.URL+"/v1/groups/web/rebuild", "", nil, &busy))
	require.NotNil(t, busy.Job)
	require.Equal(t, j.ID, busy.Job.ID)
	require.Contains(t, busy.Error, "already has unfinished job")
	done, events := follow(t, c, j.ID)
	require.Equal(t, StatusSucceeded, done.Status, "%s %+v", done.Reason, events)
	require.Equal(t, 2, done.Installed)
	require.Greater(t, len(events), 3)

	view, err := c.Group(ctx, "web")
	require.NoError(t, err)
	require.Len(t, view.Slots, 2)
	for _, sl := range view.Slots {
		assert.Equal(t, v3.Version, sl.ImageVersion)
		assert.Equal(t, "healthy", sl.Health)
		assert.Equal(t, failover.AddressOnServer, sl.AddressOn)
	}
	require.Equal(t, done.Rollouts[len(done.Rollouts)-1], view.LatestRollout)
	require.NotNil(t, view.PendingUpdates)
	groups, err = c.Groups(ctx)
	require.NoError(t, err)
	web := groups[1]
	assert.Equal(t, map[string]int{v3.Version: 2}, web.Versions)
	assert.Equal(t, HealthSummary{Healthy: 2}, web.Health)
	assert.Len(t, web.Addresses, 2)
	assert.Equal(t, view.LatestRollout, web.LatestRollout)
	assert.Equal(t, store.RolloutCompleted, web.RolloutStatus)

	// Revoke the active version: latest is the registered one again, and the plan says so.
	ch, err = c.RevokeImage(ctx, "debian-12", v3.Version, "openssl regression")
	require.NoError(t, err)
	require.Equal(t, "revoked", ch.Entry.State)
	require.Equal(t, "openssl regression", ch.Entry.RevokedReason)
	require.Equal(t, http.StatusConflict, rawJSON(t, http.MethodPost, e.srv.URL+"/v1/images/debian-12/"+v3.Version+"/revoke", `{"reason":"again"}`, nil, &conflict))
	require.Contains(t, conflict.Error, "is revoked: it cannot be revoked")
	_, err = c.RevokeImage(ctx, "debian-12", v3.Version, " ")
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "reason is required")
	latest, err = c.Image(ctx, "debian-12", "latest")
	require.NoError(t, err)
	require.Equal(t, v2.Version, latest.Version)
	plan, err := c.Plan(ctx, "web", PlanRequest{})
	require.NoError(t, err)
	require.Equal(t, v2.Version, plan.Target.Version)
	require.Len(t, plan.Work(), 2)
	pinned, err := c.Plan(ctx, "web", PlanRequest{Image: v1.Version})
	require.NoError(t, err)
	require.Equal(t, v1.Version, pinned.Target.Version)

	// Rebuild to it, then roll back to the servers it kept: by a token's holder.
	j, err = c.Rebuild(ctx, "web", RebuildOptions{})
	require.NoError(t, err)
	done, _ = follow(t, c, j.ID)
	require.Equal(t, StatusSucceeded, done.Status, done.Reason)
	view, err = c.Group(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, v2.Version, view.Slots[0].ImageVersion)

	var rb Job
	require.Equal(t, http.StatusAccepted, rawJSON(t, http.MethodPost, e.srv.URL+"/v1/groups/web/rollback", "", map[string]string{"X-Test-Principal": "ci"}, &rb))
	require.Equal(t, KindRollback, rb.Kind)
	require.Equal(t, "token ci", rb.RequestedBy)
	done, _ = follow(t, c, rb.ID)
	require.Equal(t, StatusSucceeded, done.Status, done.Reason)
	require.Equal(t, 2, done.Installed, "both slots rolled back")
	view, err = c.Group(ctx, "web")
	require.NoError(t, err)
	for _, sl := range view.Slots {
		assert.Equal(t, v3.Version, sl.ImageVersion, "back on the kept servers")
		assert.Equal(t, failover.AddressOnServer, sl.AddressOn)
	}

	// A build job of the family.
	bj, err := c.BuildImage(ctx, "debian-12", BuildImageOptions{OnlyIfChanged: true})
	require.NoError(t, err)
	require.Equal(t, KindBuildImage, bj.Kind)
	require.JSONEq(t, `{"only_if_changed":true}`, string(bj.Options))
	done, _ = follow(t, c, bj.ID)
	require.Equal(t, StatusSucceeded, done.Status)
	require.Contains(t, done.Decisions, "no build: nothing changed since the active version")
	_, err = c.BuildImage(ctx, "ubuntu", BuildImageOptions{})
	require.ErrorIs(t, err, ErrNotFound)
	// A token's holder is recorded as such, whatever the request claims.
	var claimed Job
	require.Equal(t, http.StatusCreated, rawJSON(t, http.MethodPost, e.srv.URL+"/v1/jobs", `{"kind":"build-image","target":"debian-12","requested_by":"schedule monthly"}`,
		map[string]string{"X-Test-Principal": "ci"}, &claimed))
	require.Equal(t, "token ci", claimed.RequestedBy)
	done, _ = follow(t, c, claimed.ID)
	require.Equal(t, StatusSucceeded, done.Status)

	// The answers are what openapi.json says they are.
	var accepted []int64
	for _, r := range []struct {
		pattern, method, path, body string
		status                      int
	}{
		{"GET /v1/groups", "GET", "/v1/groups", "", 200},
		{"GET /v1/groups/{name}", "GET", "/v1/groups/web", "", 200},
		{"GET /v1/groups/{name}", "GET", "/v1/groups/nope", "", 404},
		{"GET /v1/groups/{name}/plan", "GET", "/v1/groups/web/plan?force=true", "", 200},
		{"GET /v1/groups/{name}/plan", "GET", "/v1/groups/web/plan?force=maybe", "", 400},
		{"GET /v1/images", "GET", "/v1/images?family=debian-12", "", 200},
		{"GET /v1/images/{family}/{version}", "GET", "/v1/images/debian-12/latest", "", 200},
		{"GET /v1/images/{family}/diff", "GET", "/v1/images/debian-12/diff?from=" + v1.Version + "&to=" + v3.Version, "", 200},
		{"GET /v1/jobs", "GET", "/v1/jobs?target=web", "", 200},
		{"GET /v1/jobs/{id}", "GET", fmt.Sprintf("/v1/jobs/%d", rb.ID), "", 200},
		{"GET /v1/jobs/{id}/events", "GET", fmt.Sprintf("/v1/jobs/%d/events?after=2", rb.ID), "", 200},
		{"POST /v1/groups/{name}/rebuild", "POST", "/v1/groups/web/rebuild", `{"force":true,"max_surge":2}`, 202},
		{"POST /v1/groups/{name}/rollback", "POST", "/v1/groups/web/rollback", "", 409},
	} {
		status, body := rawBody(t, r.method, e.srv.URL+r.path, r.body)
		require.Equal(t, r.status, status, "%s %s: %s", r.method, r.path, body)
		requireDocumented(t, r.pattern, status, body)
		if status == http.StatusAccepted {
			var j Job
			require.NoError(t, json.Unmarshal(body, &j))
			accepted = append(accepted, j.ID)
		}
	}
	for _, id := range accepted {
		done, _ := follow(t, c, id)
		require.Equal(t, StatusSucceeded, done.Status, done.Reason)
	}
}

func rawBody(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}
