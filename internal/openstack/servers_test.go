package openstack

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func flavorsHandlers(fc *fakeCloud) {
	fc.handle("GET /compute/v2.1/flavors/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "2" {
			novaError(w, 404, "itemNotFound", "Flavor "+r.PathValue("id")+" could not be found.")
			return
		}
		writeJSON(w, 200, map[string]any{"flavor": map[string]any{"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}})
	})
	fc.handle("GET /compute/v2.1/flavors/detail", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"flavors": []map[string]any{
			{"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
			{"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
			{"id": "7", "name": "dup", "vcpus": 1, "ram": 512, "disk": 1},
			{"id": "8", "name": "dup", "vcpus": 1, "ram": 512, "disk": 1},
		}})
	})
}

func TestCreateServerRequest(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	flavorsHandlers(fc)
	fc.handle("GET /network/v2.0/networks", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "private", r.URL.Query().Get("name"))
		writeJSON(w, 200, map[string]any{"networks": []map[string]any{
			{"id": "net-1", "name": "private", "router:external": false, "subnets": []string{"sub-1"}},
		}})
	})
	var bodies []map[string]any
	var microversions []string
	fc.handle("POST /compute/v2.1/servers", func(w http.ResponseWriter, r *http.Request) {
		bodies = append(bodies, readBody(t, r))
		microversions = append(microversions, r.Header.Get("X-OpenStack-Nova-API-Version"))
		writeJSON(w, 202, map[string]any{"server": map[string]any{"id": "new-1", "adminPass": "x"}})
	})
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	// User data that is itself valid base64 must still be encoded exactly once.
	userData := []byte("abcd")
	s, err := c.CreateServer(ctx, ServerSpec{
		Name: "web-1", ImageID: "img-1", Flavor: "m1.small", Network: "private", KeyName: "remint",
		SecurityGroups: []string{"default"}, UserData: userData, Metadata: map[string]string{"remint_group": "web"},
	})
	require.NoError(t, err)
	assert.Equal(t, Server{ID: "new-1", Name: "web-1", Status: "BUILD", ImageID: "img-1", FlavorID: "2", FlavorName: "m1.small",
		KeyName: "remint", Metadata: map[string]string{"remint_group": "web"}}, s)

	_, err = c.CreateServer(ctx, ServerSpec{Name: "web-2", ImageID: "img-1", Flavor: "2"})
	require.NoError(t, err)

	require.Len(t, bodies, 2)
	srv := bodies[0]["server"].(map[string]any)
	assert.Equal(t, "web-1", srv["name"])
	assert.Equal(t, "img-1", srv["imageRef"])
	assert.Equal(t, "2", srv["flavorRef"])
	assert.Equal(t, "remint", srv["key_name"])
	assert.Equal(t, base64.StdEncoding.EncodeToString(userData), srv["user_data"])
	assert.Equal(t, []any{map[string]any{"uuid": "net-1"}}, srv["networks"])
	assert.Equal(t, []any{map[string]any{"name": "default"}}, srv["security_groups"])
	assert.Equal(t, map[string]any{"remint_group": "web"}, srv["metadata"])
	srv2 := bodies[1]["server"].(map[string]any)
	assert.Equal(t, "none", srv2["networks"])
	assert.NotContains(t, srv2, "key_name")
	assert.NotContains(t, srv2, "user_data")
	assert.Equal(t, []string{"2.79", "2.79"}, microversions)

	// m1.small was resolved once (by name: 404 on id, then list) and remembered.
	assert.Equal(t, 1, fc.count("GET /compute/v2.1/flavors/detail"))
	assert.Equal(t, 1, fc.count("GET /network/v2.0/networks"))
}

func TestGetFlavorByIDNameAndAmbiguity(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	flavorsHandlers(fc)
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	f, err := c.GetFlavor(ctx, "2")
	require.NoError(t, err)
	assert.Equal(t, Flavor{ID: "2", Name: "m1.small", VCPUs: 1, RAM: 2048, Disk: 20}, f)
	assert.Equal(t, 0, fc.count("GET /compute/v2.1/flavors/detail"))

	f, err = c.GetFlavor(ctx, "m1.tiny")
	require.NoError(t, err)
	assert.Equal(t, "1", f.ID)

	_, err = c.GetFlavor(ctx, "dup")
	require.ErrorIs(t, err, ErrAmbiguous)
	assert.True(t, IsTerminal(err))

	_, err = c.GetFlavor(ctx, "nope")
	assert.True(t, IsNotFound(err))
	assert.True(t, IsTerminal(err))
}

func TestListServersFiltersPrefixAndMetadataAcrossPages(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	var names []string
	fc.handle("GET /compute/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		names = append(names, r.URL.Query().Get("name"))
		if r.URL.Query().Get("marker") == "" {
			writeJSON(w, 200, map[string]any{
				"servers": []any{
					serverJSON("a", "web.1", "ACTIVE", map[string]any{"metadata": map[string]any{"remint_group": "web", "remint_rollout": "r1"}}),
					serverJSON("b", "web.2", "ACTIVE", map[string]any{"metadata": map[string]any{"remint_group": "db"}}),
				},
				"servers_links": []any{map[string]any{"rel": "next", "href": fc.srv.URL + "/compute/v2.1/servers/detail?name=%5Eweb%5C.&marker=b"}},
			})
			return
		}
		writeJSON(w, 200, map[string]any{"servers": []any{
			serverJSON("c", "web.3", "BUILD", map[string]any{"metadata": map[string]any{"remint_group": "web"}}),
			// A cloud that matches the name anywhere: filtered out here.
			serverJSON("d", "old-web.4", "ACTIVE", map[string]any{"metadata": map[string]any{"remint_group": "web"}}),
		}})
	})
	c := fc.connect(t, fastPolicy)
	got, err := c.ListServers(testCtx(t), ListServersOpts{NamePrefix: "web.", Metadata: map[string]string{"remint_group": "web"}})
	require.NoError(t, err)
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"a", "c"}, ids)
	assert.Equal(t, `^web\.`, names[0], "the prefix is sent as an anchored, escaped regex")
	assert.Len(t, names, 2, "paging followed")
}

func TestServerConversion(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"server": serverJSON("s1", "web-1", "ACTIVE", map[string]any{
			"key_name": "remint",
			"metadata": map[string]any{"remint_group": "web"},
			"addresses": map[string]any{
				"private": []any{
					map[string]any{"addr": "fd00::5", "version": 6, "OS-EXT-IPS:type": "fixed"},
					map[string]any{"addr": "10.0.0.5", "version": 4, "OS-EXT-IPS:type": "fixed"},
					map[string]any{"addr": "203.0.113.9", "version": 4, "OS-EXT-IPS:type": "floating"},
				},
			},
		})})
	})
	c := fc.connect(t, fastPolicy)
	s, err := c.GetServer(testCtx(t), "s1")
	require.NoError(t, err)
	assert.Equal(t, "img-1", s.ImageID)
	assert.Equal(t, "m1.tiny", s.FlavorName)
	assert.Equal(t, "", s.FlavorID, "2.47+ embeds the flavor without its id")
	assert.Equal(t, "remint", s.KeyName)
	assert.Equal(t, map[string][]string{"private": {"fd00::5", "10.0.0.5"}}, s.Addresses)
	assert.Equal(t, "10.0.0.5", s.AccessIP)
	assert.Equal(t, time.Date(2026, 11, 22, 4, 48, 14, 0, time.UTC), s.Created.UTC())
}

// statusSequence answers GET servers/{id} with the given statuses in turn, the last
// one forever.
func statusSequence(fc *fakeCloud, id string, statuses ...string) {
	var n atomic.Int64
	fc.handle("GET /compute/v2.1/servers/"+id, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(statuses) {
			i = len(statuses) - 1
		}
		st := statuses[i]
		if st == "404" {
			novaError(w, 404, "itemNotFound", "Instance "+id+" could not be found.")
			return
		}
		extra := map[string]any{}
		if st == "ERROR" {
			extra["fault"] = map[string]any{"code": 500, "message": "No valid host was found. ", "created": "2026-11-22T04:48:15Z"}
		}
		writeJSON(w, 200, map[string]any{"server": serverJSON(id, "web-1", st, extra)})
	})
}

func TestWaitServer(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	statusSequence(fc, "ok", "BUILD", "BUILD", "ACTIVE")
	statusSequence(fc, "bad", "BUILD", "ERROR")
	statusSequence(fc, "slow", "BUILD")
	statusSequence(fc, "going", "ACTIVE", "ACTIVE", "404")
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	s, err := c.WaitServerActive(ctx, "ok")
	require.NoError(t, err)
	assert.Equal(t, "ACTIVE", s.Status)
	assert.Equal(t, 3, fc.count("GET /compute/v2.1/servers/ok"))

	s, err = c.WaitServerActive(ctx, "bad")
	require.Error(t, err)
	assert.True(t, IsTerminal(err))
	assert.Contains(t, err.Error(), "No valid host was found.")
	assert.Equal(t, "ERROR", s.Status)
	assert.Equal(t, 2, fc.count("GET /compute/v2.1/servers/bad"), "ERROR stops the wait at once")

	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	_, err = c.WaitServerActive(short, "slow")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "still BUILD")

	require.NoError(t, c.WaitServerDeleted(ctx, "going"))
}

func TestDeleteServerNotFoundIsSuccess(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("DELETE /compute/v2.1/servers/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "gone" {
			novaError(w, 404, "itemNotFound", "Instance gone could not be found.")
			return
		}
		w.WriteHeader(204)
	})
	c := fc.connect(t, fastPolicy)
	require.NoError(t, c.DeleteServer(testCtx(t), "here"))
	require.NoError(t, c.DeleteServer(testCtx(t), "gone"))
}

func TestCreateServerImageReadsIDFromBody(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("POST /compute/v2.1/servers/s1/action", func(w http.ResponseWriter, r *http.Request) {
		body := readBody(t, r)
		ci := body["createImage"].(map[string]any)
		assert.Equal(t, "snap", ci["name"])
		assert.Equal(t, map[string]any{"remint_family": "debian-12"}, ci["metadata"])
		w.Header().Set("X-OpenStack-Nova-API-Version", r.Header.Get("X-OpenStack-Nova-API-Version"))
		writeJSON(w, 202, map[string]any{"image_id": "snap-1"})
	})
	c := fc.connect(t, fastPolicy)
	id, err := c.CreateServerImage(testCtx(t), "s1", "snap", map[string]string{"remint_family": "debian-12"})
	require.NoError(t, err)
	assert.Equal(t, "snap-1", id)
}

func TestReauthenticatesWhenTheTokenExpires(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", okServer("s1"))
	c := fc.connect(t, fastPolicy)
	_, err := c.GetServer(testCtx(t), "s1")
	require.NoError(t, err)
	fc.expireTokens()
	_, err = c.GetServer(testCtx(t), "s1")
	require.NoError(t, err)
	assert.Equal(t, 2, fc.count("POST /identity/v3/auth/tokens"))
}

func TestConnectRefusesBadPasswordWithoutRetrying(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	doc := strings.Replace(readFile(t, fc.cloudsYAML(t)), "password: s3cret", "password: wrong-Secret-42", 1)
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	_, err := Connect(testCtx(t), ConnectOptions{Cloud: "fake", CloudsFile: path, Retry: fastPolicy})
	require.Error(t, err)
	assert.True(t, IsTerminal(err), "%v", err)
	assert.Equal(t, 1, fc.count("POST /identity/v3/auth/tokens"))
	assert.NotContains(t, err.Error(), "wrong-Secret-42")
	assert.Contains(t, err.Error(), "HTTP 401")

	_, err = Connect(testCtx(t), ConnectOptions{Cloud: "nope", CloudsFile: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cloud "nope" not found`)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
