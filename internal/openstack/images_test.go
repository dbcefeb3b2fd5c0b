package openstack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImageListQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		q       imageListQuery
		want    string
		wantErr string
	}{
		{name: "empty", q: imageListQuery{}, want: ""},
		{name: "properties are top-level keys", q: imageListQuery{opts: ListImagesOpts{
			Properties: map[string]string{"remint_family": "debian-12", "remint_state": "active"},
		}}, want: "?remint_family=debian-12&remint_state=active"},
		{name: "everything", q: imageListQuery{hidden: true, opts: ListImagesOpts{
			Name: "debian 12", Status: "active", Visibility: "private", Tags: []string{"remint", "web"},
			Properties: map[string]string{"remint_family": "debian-12"}, Sort: "created_at:desc,name:asc", PageSize: 50,
		}}, want: "?limit=50&name=debian+12&os_hidden=true&remint_family=debian-12&sort=created_at%3Adesc%2Cname%3Aasc&status=active&tag=remint&tag=web&visibility=private"},
		{name: "reserved key", q: imageListQuery{opts: ListImagesOpts{Properties: map[string]string{"limit": "1"}}},
			wantErr: `image property filter "limit": not a custom property name`},
		{name: "bad sort", q: imageListQuery{opts: ListImagesOpts{Sort: "name:up"}}, wantErr: `direction "up"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.q.ToImageListQuery()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSortImages(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	list := []Image{
		{ID: "a", Name: "x", Created: day(1)},
		{ID: "b", Name: "y", Created: day(3)},
		{ID: "c", Name: "x", Created: day(2)},
		{ID: "d", Name: "y", Created: day(3)},
	}
	keys, err := parseImageSort("created_at")
	require.NoError(t, err)
	sortImages(list, keys)
	assert.Equal(t, []string{"d", "b", "c", "a"}, imageIDs(list), "newest first, ties by id desc")

	keys, err = parseImageSort("name:asc,created_at:asc")
	require.NoError(t, err)
	sortImages(list, keys)
	assert.Equal(t, []string{"a", "c", "d", "b"}, imageIDs(list), "ties by id desc")
}

func imageIDs(list []Image) []string {
	var ids []string
	for _, im := range list {
		ids = append(ids, im.ID)
	}
	return ids
}

// glanceImage is an image as Glance shows it (reference 22-glance-image-get.txt).
func glanceImage(id, name string, created string, extra map[string]any) map[string]any {
	im := map[string]any{
		"id": id, "name": name, "status": "active", "visibility": "private", "protected": false,
		"os_hidden": false, "tags": []string{}, "size": 1048576, "checksum": "b6d81b360a5672d80c27430f39153e2c",
		"container_format": "bare", "disk_format": "qcow2", "min_ram": 0, "min_disk": 0, "owner": "p1",
		"os_hash_algo": "sha512", "os_hash_value": "d629", "virtual_size": nil,
		"created_at": created, "updated_at": created,
		"self": "/v2/images/" + id, "file": "/v2/images/" + id + "/file", "schema": "/v2/schemas/image",
	}
	for k, v := range extra {
		im[k] = v
	}
	return im
}

func TestListImagesPagesAndMergesHidden(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	var queries []string
	fc.handle("GET /image/v2/images", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		queries = append(queries, r.URL.RawQuery)
		require.Equal(t, "debian-12", q.Get("remint_family"))
		if q.Get("os_hidden") == "true" {
			writeJSON(w, 200, map[string]any{"images": []any{
				glanceImage("h1", "old", "2026-09-01T00:00:00Z", map[string]any{"os_hidden": true, "remint_family": "debian-12"}),
			}, "schema": "/v2/schemas/images"})
			return
		}
		if q.Get("marker") == "" {
			writeJSON(w, 200, map[string]any{"images": []any{
				glanceImage("n2", "new", "2026-11-01T00:00:00Z", map[string]any{"remint_family": "debian-12", "remint_version": "2026.11.1"}),
			}, "next": "/v2/images?limit=1&remint_family=debian-12&marker=n2", "schema": "/v2/schemas/images"})
			return
		}
		writeJSON(w, 200, map[string]any{"images": []any{
			glanceImage("n1", "mid", "2026-10-01T00:00:00Z", map[string]any{"remint_family": "debian-12"}),
		}, "schema": "/v2/schemas/images"})
	})
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	got, err := c.ListImages(ctx, ListImagesOpts{Properties: map[string]string{"remint_family": "debian-12"}, PageSize: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"n2", "n1"}, imageIDs(got))
	assert.Equal(t, map[string]string{"remint_family": "debian-12", "remint_version": "2026.11.1"}, got[0].Properties,
		"custom properties only; Glance's own attributes are not properties")
	assert.Equal(t, int64(1048576), got[0].Size)

	got, err = c.ListImages(ctx, ListImagesOpts{Properties: map[string]string{"remint_family": "debian-12"}, IncludeHidden: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"n2", "n1", "h1"}, imageIDs(got))
	assert.True(t, got[2].Hidden)
	assert.Contains(t, queries, "os_hidden=true&remint_family=debian-12")
}

func TestUpdateImagePatch(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	var patch []map[string]any
	var contentType string
	fc.handle("GET /image/v2/images/i1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, glanceImage("i1", "img", "2026-11-01T00:00:00Z", map[string]any{"remint_state": "candidate"}))
	})
	fc.handle("PATCH /image/v2/images/i1", func(w http.ResponseWriter, r *http.Request) {
		contentType = r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		require.NoError(t, json.Unmarshal(b, &patch))
		writeJSON(w, 200, glanceImage("i1", "renamed", "2026-11-01T00:00:00Z", map[string]any{"remint_state": "active", "tags": []string{"a"}}))
	})
	c := fc.connect(t, fastPolicy)
	name, vis, hidden, prot := "renamed", "shared", true, false
	tags := []string{"a"}
	im, err := c.UpdateImage(testCtx(t), "i1", ImageUpdate{
		Name:             &name,
		SetProperties:    map[string]string{"remint_state": "active", "remint_version": "2026.11.1"},
		RemoveProperties: []string{"remint_revoked", "remint_state"}, // only remint_state exists
		Tags:             &tags, Visibility: &vis, Hidden: &hidden, Protected: &prot,
	})
	require.NoError(t, err)
	assert.Equal(t, "renamed", im.Name)
	assert.Equal(t, "application/openstack-images-v2.1-json-patch", contentType)
	assert.Equal(t, []map[string]any{
		{"op": "replace", "path": "/name", "value": "renamed"},
		{"op": "add", "path": "/remint_state", "value": "active"},
		{"op": "add", "path": "/remint_version", "value": "2026.11.1"},
		{"op": "remove", "path": "/remint_state"},
		{"op": "replace", "path": "/tags", "value": []any{"a"}},
		{"op": "replace", "path": "/visibility", "value": "shared"},
		{"op": "replace", "path": "/os_hidden", "value": true},
		{"op": "replace", "path": "/protected", "value": false},
	}, patch)
}

func TestImageActionsUploadAndDelete(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("POST /image/v2/images/{id}/actions/{action}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(204)
	})
	var uploads [][]byte
	fc.handle("PUT /image/v2/images/i1/file", failing(1, 503, 0, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		uploads = append(uploads, b)
		w.WriteHeader(204)
	}))
	fc.handle("DELETE /image/v2/images/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "gone" {
			writeJSON(w, 404, map[string]any{"message": "No image found with ID gone<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"})
			return
		}
		w.WriteHeader(204)
	})
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)
	require.NoError(t, c.DeactivateImage(ctx, "i1"))
	require.NoError(t, c.ReactivateImage(ctx, "i1"))
	assert.Equal(t, "POST /image/v2/images/i1/actions/reactivate", fc.lastRequest("POST /image/"))

	// A seekable body is rewound and sent again after a 503.
	require.NoError(t, c.UploadImage(ctx, "i1", bytes.NewReader([]byte("disk-bytes"))))
	assert.Equal(t, [][]byte{[]byte("disk-bytes")}, uploads)
	assert.Equal(t, 2, fc.count("PUT /image/v2/images/i1/file"))

	// A stream cannot be sent twice: the 503 is returned.
	fc.handle("PUT /image/v2/images/i2/file", failing(1, 503, 0, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	err := c.UploadImage(ctx, "i2", io.MultiReader(strings.NewReader("stream")))
	require.Error(t, err)
	assert.Equal(t, 1, fc.count("PUT /image/v2/images/i2/file"))

	require.NoError(t, c.DeleteImage(ctx, "i1"))
	require.NoError(t, c.DeleteImage(ctx, "gone"))
}

func TestWaitImageActive(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	seq := func(id string, statuses ...string) {
		n := 0
		fc.handle("GET /image/v2/images/"+id, func(w http.ResponseWriter, r *http.Request) {
			st := statuses[min(n, len(statuses)-1)]
			n++
			writeJSON(w, 200, glanceImage(id, "snap", "2026-11-01T00:00:00Z", map[string]any{"status": st}))
		})
	}
	seq("ok", "queued", "saving", "active")
	seq("dead", "queued", "killed")
	c := fc.connect(t, fastPolicy)
	im, err := c.WaitImageActive(testCtx(t), "ok")
	require.NoError(t, err)
	assert.Equal(t, "active", im.Status)
	_, err = c.WaitImageActive(testCtx(t), "dead")
	require.Error(t, err)
	assert.True(t, IsTerminal(err))
	assert.Contains(t, err.Error(), "is killed")
}
