package sim

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const glancePatchCT = "application/openstack-images-v2.1-json-patch"

// createImage creates a queued image through the API and returns its id.
func (e *gnEnv) createImage(t *testing.T, body map[string]any) string {
	t.Helper()
	r := e.call(t, "POST", "/image/v2/images", body)
	require.Equal(t, 201, r.status, "%s", r.body)
	return r.json(t)["id"].(string)
}

func (e *gnEnv) patchImage(t *testing.T, id string, ops string) gnResp {
	t.Helper()
	return e.call(t, "PATCH", "/image/v2/images/"+id, []byte(ops), "Content-Type", glancePatchCT)
}

// glanceErrBody checks the Glance error shape (reference 24) and returns the message.
func glanceErrBody(t *testing.T, r gnResp, status int) string {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r.body)
	m := r.json(t)
	assert.Equal(t, fmt.Sprintf("%d %s", status, httpStatusText(status)), m["code"])
	assert.Equal(t, httpStatusText(status), m["title"])
	msg := m["message"].(string)
	require.True(t, strings.HasSuffix(msg, "<br /><br />\n\n\n"), "message %q", msg)
	return strings.TrimSuffix(msg, "<br /><br />\n\n\n")
}

func httpStatusText(code int) string {
	return map[int]string{400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
		410: "Gone", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
		503: "Service Unavailable"}[code]
}

func TestGlanceVersions(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	for path, status := range map[string]int{"/image/": 300, "/image": 300, "/image/versions": 200} {
		r := e.call(t, "GET", path, nil)
		require.Equal(t, status, r.status, path)
		versions := r.json(t)["versions"].([]any)
		require.Len(t, versions, 10)
		first := versions[0].(map[string]any)
		assert.Equal(t, "v2.15", first["id"])
		assert.Equal(t, "CURRENT", first["status"])
		link := first["links"].([]any)[0].(map[string]any)
		assert.Equal(t, e.s.BaseURL()+"/image/v2/", link["href"])
	}
}

func TestGlanceGetSeededAnd404(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	r := e.call(t, "GET", "/image/v2/images/"+e.seed.ImageID, nil)
	require.Equal(t, 200, r.status)
	assert.NotEmpty(t, r.header.Get("X-Openstack-Request-Id"))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	img := r.json(t)
	assert.Equal(t, SeedImageName, img["name"])
	assert.Equal(t, "active", img["status"])
	assert.Equal(t, "debian", img["os_distro"], "custom properties are top-level keys")
	assert.Equal(t, "/v2/images/"+e.seed.ImageID, img["self"])
	assert.Equal(t, "/v2/images/"+e.seed.ImageID+"/file", img["file"])
	assert.Equal(t, "/v2/schemas/image", img["schema"])
	assert.Equal(t, []any{}, img["tags"])
	for _, k := range []string{"checksum", "os_hash_algo", "os_hash_value"} {
		v, ok := img[k]
		assert.True(t, ok, k)
		assert.Nil(t, v, k)
	}
	// The document keeps Glance's order: custom properties first, then name.
	body := string(r.body)
	assert.Less(t, strings.Index(body, `"os_distro"`), strings.Index(body, `"name"`))

	missing := "00000000-0000-0000-0000-000000000000"
	r = e.call(t, "GET", "/image/v2/images/"+missing, nil)
	assert.Equal(t, "No image found with ID "+missing, glanceErrBody(t, r, 404))
}

func TestGlanceCreateUploadDownloadDelete(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	r := e.call(t, "POST", "/image/v2/images", map[string]any{
		"name": "ref-new", "disk_format": "raw", "container_format": "bare", "remint_family": "debian-12",
	})
	require.Equal(t, 201, r.status, "%s", r.body)
	img := r.json(t)
	id := img["id"].(string)
	assert.Equal(t, e.s.BaseURL()+"/image/v2/images/"+id, r.header.Get("Location"))
	assert.Equal(t, "queued", img["status"])
	assert.Equal(t, "shared", img["visibility"])
	assert.Equal(t, "debian-12", img["remint_family"])
	assert.Nil(t, img["size"])
	assert.Nil(t, img["checksum"])

	// Upload needs the octet-stream media type.
	r = e.call(t, "PUT", "/image/v2/images/"+id+"/file", []byte("x"), "Content-Type", "text/plain")
	glanceErrBody(t, r, 415)

	data := []byte("remint image bits")
	r = e.call(t, "PUT", "/image/v2/images/"+id+"/file", data, "Content-Type", "application/octet-stream")
	require.Equal(t, 204, r.status, "%s", r.body)
	assert.Equal(t, "text/html; charset=UTF-8", r.header.Get("Content-Type"))
	assert.Empty(t, r.body)

	img = e.call(t, "GET", "/image/v2/images/"+id, nil).json(t)
	sumMD5 := md5.Sum(data)
	sumSHA := sha512.Sum512(data)
	assert.Equal(t, "active", img["status"])
	assert.EqualValues(t, len(data), img["size"])
	assert.Equal(t, hex.EncodeToString(sumMD5[:]), img["checksum"])
	assert.Equal(t, "sha512", img["os_hash_algo"])
	assert.Equal(t, hex.EncodeToString(sumSHA[:]), img["os_hash_value"])

	r = e.call(t, "GET", "/image/v2/images/"+id+"/file", nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, data, r.body)
	assert.Equal(t, hex.EncodeToString(sumMD5[:]), r.header.Get("Content-MD5"))

	// A second upload is a status transition Glance refuses.
	r = e.call(t, "PUT", "/image/v2/images/"+id+"/file", data, "Content-Type", "application/octet-stream")
	assert.Equal(t, "Image status transition from active to saving is not allowed", glanceErrBody(t, r, 409))

	// Protected images cannot be deleted.
	require.Equal(t, 200, e.patchImage(t, id, `[{"op":"replace","path":"/protected","value":true}]`).status)
	r = e.call(t, "DELETE", "/image/v2/images/"+id, nil)
	assert.Equal(t, "Image "+id+" is protected and cannot be deleted.", glanceErrBody(t, r, 403))
	require.Equal(t, 200, e.patchImage(t, id, `[{"op":"replace","path":"/protected","value":false}]`).status)

	r = e.call(t, "DELETE", "/image/v2/images/"+id, nil)
	require.Equal(t, 204, r.status)
	assert.Equal(t, "text/html; charset=UTF-8", r.header.Get("Content-Type"))
	glanceErrBody(t, e.call(t, "GET", "/image/v2/images/"+id, nil), 404)
	glanceErrBody(t, e.call(t, "DELETE", "/image/v2/images/"+id, nil), 404)

	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	assert.Nil(t, e.s.imageLocked(id))
	assert.NotNil(t, e.s.imageLocked(e.seed.ImageID))
}

func TestGlanceCreateRefusals(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	tests := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"read-only", `{"name":"x","status":"active"}`, 403, "Attribute 'status' is read-only."},
		{"reserved", `{"name":"x","deleted":"true"}`, 403, "Attribute 'deleted' is reserved."},
		{"bad visibility", `{"name":"x","visibility":"everyone"}`, 400,
			"Provided object does not match schema 'image': 'everyone' is not one of ['community', 'public', 'private', 'shared']"},
		{"non-string property", `{"name":"x","remint_version":3}`, 400,
			"Provided object does not match schema 'image': 3 is not of type 'string'"},
		{"bad disk format", `{"name":"x","disk_format":"floppy"}`, 400, ""},
		{"malformed", `{"name":`, 400, "Malformed JSON in request body."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := glanceErrBody(t, e.call(t, "POST", "/image/v2/images", tc.body), tc.status)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, msg)
			}
		})
	}
	// An image may be created with a chosen id, once.
	id := "6c1d4f2e-1111-4222-8333-944445555666"
	e.createImage(t, map[string]any{"id": id, "name": "chosen"})
	r := e.call(t, "POST", "/image/v2/images", map[string]any{"id": id, "name": "again"})
	assert.Equal(t, "Image with identifier "+id+" already exists!", glanceErrBody(t, r, 409))
}

func TestGlancePatch(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	id := e.createImage(t, map[string]any{"name": "patchme", "disk_format": "raw", "container_format": "bare",
		"remint_state": "candidate"})

	tests := []struct {
		name   string
		ops    string
		status int
		msg    string
		check  func(t *testing.T, img map[string]any)
	}{
		{name: "add property and replace tags (ref 23)",
			ops:    `[{"op":"add","path":"/remint_family","value":"debian-12"},{"op":"replace","path":"/tags","value":["remint","b","remint"]}]`,
			status: 200,
			check: func(t *testing.T, img map[string]any) {
				assert.Equal(t, "debian-12", img["remint_family"])
				assert.Equal(t, []any{"remint", "b"}, img["tags"])
			}},
		{name: "add overwrites an existing property",
			ops: `[{"op":"add","path":"/remint_state","value":"active"}]`, status: 200,
			check: func(t *testing.T, img map[string]any) { assert.Equal(t, "active", img["remint_state"]) }},
		{name: "replace a base attribute",
			ops: `[{"op":"replace","path":"/name","value":"renamed"},{"op":"replace","path":"/min_disk","value":3}]`, status: 200,
			check: func(t *testing.T, img map[string]any) {
				assert.Equal(t, "renamed", img["name"])
				assert.EqualValues(t, 3, img["min_disk"])
			}},
		{name: "tags append refused (ref 24)", ops: `[{"op":"add","path":"/tags/-","value":"x"}]`,
			status: 400, msg: "Invalid JSON pointer for this resource: '/tags/-'"},
		{name: "read-only id (ref 30)", ops: `[{"op":"replace","path":"/id","value":"x"}]`,
			status: 403, msg: "Attribute 'id' is read-only."},
		{name: "read-only checksum", ops: `[{"op":"add","path":"/checksum","value":"x"}]`,
			status: 403, msg: "Attribute 'checksum' is read-only."},
		{name: "replace of a missing property", ops: `[{"op":"replace","path":"/nope","value":"x"}]`,
			status: 409, msg: "Property nope does not exist."},
		{name: "remove of a missing property", ops: `[{"op":"remove","path":"/nope"}]`,
			status: 409, msg: "Property nope does not exist."},
		{name: "remove of a base attribute", ops: `[{"op":"remove","path":"/name"}]`,
			status: 403, msg: "Property name may not be removed."},
		{name: "bad op", ops: `[{"op":"move","path":"/name"}]`,
			status: 400, msg: "Invalid operation: `move`. It must be one of the following: add, remove, replace."},
		{name: "missing value", ops: `[{"op":"add","path":"/x"}]`,
			status: 400, msg: `Operation "add" requires a member named "value".`},
		{name: "not an array", ops: `{"op":"add"}`,
			status: 400, msg: "Request body must be a JSON array of operation objects."},
		{name: "bad boolean", ops: `[{"op":"replace","path":"/os_hidden","value":"yes"}]`,
			status: 400, msg: "Provided object does not match schema 'image': 'yes' is not of type 'boolean'"},
		{name: "all or nothing", ops: `[{"op":"add","path":"/half","value":"done"},{"op":"replace","path":"/status","value":"active"}]`,
			status: 403, msg: "Attribute 'status' is read-only."},
		{name: "remove a property (ref 28)", ops: `[{"op":"remove","path":"/remint_family"}]`, status: 200,
			check: func(t *testing.T, img map[string]any) {
				_, ok := img["remint_family"]
				assert.False(t, ok)
				_, ok = img["half"]
				assert.False(t, ok, "a refused patch changed nothing")
			}},
		{name: "escaped pointer", ops: `[{"op":"add","path":"/a~1b~0c","value":"v"}]`, status: 200,
			check: func(t *testing.T, img map[string]any) { assert.Equal(t, "v", img["a/b~c"]) }},
	}
	// The cases build on each other: run in order.
	for _, tc := range tests {
		r := e.patchImage(t, id, tc.ops)
		if tc.status != 200 {
			assert.Equal(t, tc.msg, glanceErrBody(t, r, tc.status), tc.name)
			continue
		}
		require.Equal(t, 200, r.status, "%s: %s", tc.name, r.body)
		tc.check(t, r.json(t))
		assert.Equal(t, r.json(t), e.call(t, "GET", "/image/v2/images/"+id, nil).json(t), "%s: PATCH answers the stored image", tc.name)
	}

	// Only the JSON-patch media types are accepted.
	r := e.call(t, "PATCH", "/image/v2/images/"+id, []byte(`[]`), "Content-Type", "application/json")
	glanceErrBody(t, r, 415)
	assert.Contains(t, r.header.Get("Accept-Patch"), glancePatchCT)

	// Formats may change only while queued.
	r = e.patchImage(t, e.seed.ImageID, `[{"op":"replace","path":"/disk_format","value":"raw"}]`)
	assert.Equal(t, "Attribute disk_format can be only replaced for a queued image.", glanceErrBody(t, r, 403))

	r = e.patchImage(t, "00000000-0000-0000-0000-000000000000", `[{"op":"replace","path":"/name","value":"x"}]`)
	glanceErrBody(t, r, 404)
}

// listIDs lists images at path and returns their ids in order.
func (e *gnEnv) listIDs(t *testing.T, path string) []string {
	t.Helper()
	r := e.call(t, "GET", path, nil)
	require.Equal(t, 200, r.status, "%s: %s", path, r.body)
	var ids []string
	for _, img := range r.json(t)["images"].([]any) {
		ids = append(ids, img.(map[string]any)["id"].(string))
	}
	return ids
}

func TestGlanceListFiltersSortHidden(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	mk := func(name, state string, tags ...string) string {
		id := e.createImage(t, map[string]any{"name": name, "remint_family": "debian-12", "remint_state": state,
			"tags": tags, "disk_format": "raw", "container_format": "bare"})
		time.Sleep(2 * time.Millisecond) // distinct created_at for a defined default order
		return id
	}
	a := mk("img-a", "active", "remint", "monthly")
	b := mk("img-b", "deprecated", "remint")
	c := mk("img-c", "active", "remint", "monthly")
	other := e.createImage(t, map[string]any{"name": "other", "remint_family": "ubuntu-24", "visibility": "private"})

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{other, c, b, a, e.seed.ImageID}},
		{"?remint_family=debian-12", []string{c, b, a}},
		{"?remint_family=debian-12&remint_state=active", []string{c, a}},
		{"?tag=remint&tag=monthly", []string{c, a}},
		{"?tag=monthly&remint_state=deprecated", nil},
		{"?name=img-b", []string{b}},
		{"?name=in:img-a,img-c", []string{c, a}},
		{"?status=active", []string{e.seed.ImageID}},
		{"?status=queued&sort=name:asc", []string{a, b, c, other}},
		{"?visibility=private", []string{other}},
		{"?visibility=public", []string{e.seed.ImageID}},
		{"?remint_family=debian-12&sort=name:desc", []string{c, b, a}},
		{"?remint_family=debian-12&sort=remint_state", nil}, // invalid key, checked below
		{"?remint_family=debian-12&sort_key=name&sort_dir=asc", []string{a, b, c}},
		{"?remint_family=debian-12&sort=created_at:asc", []string{a, b, c}},
		{"?remint_family=debian-12&member_status=all", []string{c, b, a}},
	}
	for _, tc := range tests {
		if strings.Contains(tc.query, "sort=remint_state") {
			r := e.call(t, "GET", "/image/v2/images"+tc.query, nil)
			assert.Contains(t, glanceErrBody(t, r, 400), "Invalid sort key: remint_state.")
			continue
		}
		assert.Equal(t, tc.want, e.listIDs(t, "/image/v2/images"+tc.query), tc.query)
	}

	// Hidden images drop out of lists; os_hidden=true lists only them (refs 25–28).
	require.Equal(t, 200, e.patchImage(t, b, `[{"op":"replace","path":"/os_hidden","value":true}]`).status)
	assert.Equal(t, []string{c, a}, e.listIDs(t, "/image/v2/images?remint_family=debian-12"))
	assert.Equal(t, []string{b}, e.listIDs(t, "/image/v2/images?remint_family=debian-12&os_hidden=true"))
	assert.Equal(t, 200, e.call(t, "GET", "/image/v2/images/"+b, nil).status, "hidden images can still be read")
	require.Equal(t, 200, e.patchImage(t, b, `[{"op":"replace","path":"/os_hidden","value":false}]`).status)
	assert.Equal(t, []string{c, b, a}, e.listIDs(t, "/image/v2/images?remint_family=debian-12"))

	for _, q := range []string{"?limit=x", "?limit=-1", "?visibility=everyone", "?status=nope", "?os_hidden=maybe",
		"?sort=name&sort_key=id", "?sort=name:sideways", "?marker=00000000-0000-0000-0000-000000000000"} {
		glanceErrBody(t, e.call(t, "GET", "/image/v2/images"+q, nil), 400)
	}
}

func TestGlanceListPaging(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	var want []string
	for i := 0; i < 5; i++ {
		want = append([]string{e.createImage(t, map[string]any{"name": fmt.Sprintf("p%d", i), "remint_family": "pg"})}, want...)
		time.Sleep(2 * time.Millisecond)
	}
	r := e.call(t, "GET", "/image/v2/images?limit=2&sort=created_at:desc&remint_family=pg", nil)
	require.Equal(t, 200, r.status)
	page := r.json(t)
	assert.Equal(t, "/v2/images?limit=2&sort=created_at%3Adesc&remint_family=pg", page["first"])
	assert.Equal(t, "/v2/schemas/images", page["schema"])
	assert.Equal(t, "/v2/images?limit=2&sort=created_at%3Adesc&remint_family=pg&marker="+want[1], page["next"])

	// Follow next links as a client does (gophercloud resolves them against /image/).
	var got []string
	next := "/v2/images?limit=2&remint_family=pg"
	pages := 0
	for next != "" {
		pages++
		require.Less(t, pages, 10)
		r := e.call(t, "GET", "/image"+next, nil)
		require.Equal(t, 200, r.status)
		m := r.json(t)
		for _, img := range m["images"].([]any) {
			got = append(got, img.(map[string]any)["id"].(string))
		}
		next, _ = m["next"].(string)
		if next != "" {
			u, err := url.Parse(next)
			require.NoError(t, err)
			assert.Equal(t, "/v2/images", u.Path)
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages, "5 images at 2 per page")

	// A full last page still offers a next link, which then lists nothing (Glance does so).
	r = e.call(t, "GET", "/image/v2/images?limit=5&remint_family=pg", nil)
	m := r.json(t)
	require.Len(t, m["images"], 5)
	next = m["next"].(string)
	assert.Empty(t, e.call(t, "GET", "/image"+next, nil).json(t)["images"])
}

func TestGlanceDeactivateReactivate(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	id := e.seed.ImageID
	path := "/image/v2/images/" + id + "/actions/"
	r := e.call(t, "POST", path+"deactivate", nil)
	require.Equal(t, 204, r.status)
	assert.Equal(t, "text/html; charset=UTF-8", r.header.Get("Content-Type"))
	assert.Equal(t, "deactivated", e.call(t, "GET", "/image/v2/images/"+id, nil).json(t)["status"])
	assert.Contains(t, e.listIDs(t, "/image/v2/images"), id, "deactivated images are still listed")
	assert.Equal(t, 204, e.call(t, "POST", path+"deactivate", nil).status, "repeating is a no-op")
	glanceErrBody(t, e.call(t, "GET", "/image/v2/images/"+id+"/file", nil), 403)

	require.Equal(t, 204, e.call(t, "POST", path+"reactivate", nil).status)
	assert.Equal(t, "active", e.call(t, "GET", "/image/v2/images/"+id, nil).json(t)["status"])

	queued := e.createImage(t, map[string]any{"name": "q"})
	r = e.call(t, "POST", "/image/v2/images/"+queued+"/actions/deactivate", nil)
	assert.Equal(t, "Not allowed to deactivate image in status 'queued'", glanceErrBody(t, r, 403))
	r = e.call(t, "POST", "/image/v2/images/"+queued+"/actions/reactivate", nil)
	assert.Equal(t, "Not allowed to reactivate image in status 'queued'", glanceErrBody(t, r, 403))
	glanceErrBody(t, e.call(t, "POST", "/image/v2/images/00000000-0000-0000-0000-000000000000/actions/deactivate", nil), 404)
}

func TestGlanceTagsEndpoints(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	id := e.createImage(t, map[string]any{"name": "t", "tags": []string{"a"}})
	require.Equal(t, 204, e.call(t, "PUT", "/image/v2/images/"+id+"/tags/b", nil).status)
	require.Equal(t, 204, e.call(t, "PUT", "/image/v2/images/"+id+"/tags/b", nil).status)
	assert.Equal(t, []any{"a", "b"}, e.call(t, "GET", "/image/v2/images/"+id, nil).json(t)["tags"])
	require.Equal(t, 204, e.call(t, "DELETE", "/image/v2/images/"+id+"/tags/a", nil).status)
	glanceErrBody(t, e.call(t, "DELETE", "/image/v2/images/"+id+"/tags/a", nil), 404)
	assert.Equal(t, []any{"b"}, e.call(t, "GET", "/image/v2/images/"+id, nil).json(t)["tags"])
}

func TestGlanceFaultInjection(t *testing.T) {
	t.Parallel()
	e := newGNEnv(t)
	e.s.Faults().Set("image.image.list", FaultRule{ErrorRate: 1, Status: 503, Times: 1})
	r := e.call(t, "GET", "/image/v2/images", nil)
	assert.Equal(t, "Injected fault on image.image.list.", glanceErrBody(t, r, 503))
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, 200, e.call(t, "GET", "/image/v2/images", nil).status, "the rule fired once")
	assert.EqualValues(t, 2, e.s.Calls()["image.image.list"])

	// Without a token nothing is answered but 401.
	e2 := *e
	e2.token = "bogus"
	assert.Equal(t, 401, e2.call(t, "GET", "/image/v2/images", nil).status)
}
