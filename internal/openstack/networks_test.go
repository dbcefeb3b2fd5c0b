package openstack

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const netUUID = "8a0f252e-e527-4876-8449-865817593d1a"

// fipJSON is a Neutron floating IP (reference 43-neutron-fip-associate.txt).
func fipJSON(id, port string, rev int) map[string]any {
	var portID any
	if port != "" {
		portID = port
	}
	return map[string]any{"floatingip": map[string]any{
		"id": id, "floating_ip_address": "203.0.113.146", "floating_network_id": netUUID,
		"router_id": "r1", "port_id": portID, "fixed_ip_address": nil, "status": "DOWN", "description": "",
		"tags": []string{}, "created_at": "2026-11-22T04:48:34Z", "updated_at": "2026-11-22T04:48:35Z",
		"revision_number": rev, "project_id": "p1", "tenant_id": "p1",
	}}
}

func TestGetNetworkByIDOrName(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /network/v2.0/networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != netUUID {
			writeJSON(w, 404, map[string]any{"NeutronError": map[string]any{"type": "NetworkNotFound", "message": "Network could not be found.", "detail": ""}})
			return
		}
		writeJSON(w, 200, map[string]any{"network": map[string]any{"id": netUUID, "name": "public", "router:external": true, "subnets": []string{"s1"}}})
	})
	fc.handle("GET /network/v2.0/networks", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("name") {
		case "public":
			writeJSON(w, 200, map[string]any{"networks": []any{map[string]any{"id": netUUID, "name": "public", "router:external": true}}})
		case "twice":
			writeJSON(w, 200, map[string]any{"networks": []any{map[string]any{"id": "n1", "name": "twice"}, map[string]any{"id": "n2", "name": "twice"}}})
		default:
			writeJSON(w, 200, map[string]any{"networks": []any{}})
		}
	})
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	n, err := c.GetNetwork(ctx, netUUID)
	require.NoError(t, err)
	assert.Equal(t, Network{ID: netUUID, Name: "public", External: true, Subnets: []string{"s1"}}, n)
	assert.Equal(t, 0, fc.count("GET /network/v2.0/networks"))

	n, err = c.GetNetwork(ctx, "public")
	require.NoError(t, err)
	assert.Equal(t, netUUID, n.ID)
	assert.True(t, n.External)

	_, err = c.GetNetwork(ctx, "twice")
	require.ErrorIs(t, err, ErrAmbiguous)
	_, err = c.GetNetwork(ctx, "00000000-0000-0000-0000-000000000000")
	assert.True(t, IsNotFound(err), "%v", err)
}

func TestAssociateFloatingIPGuardedByRevision(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	var ifMatch []string
	var bodies []map[string]any
	current := 3
	fc.handle("PUT /network/v2.0/floatingips/f1", func(w http.ResponseWriter, r *http.Request) {
		ifMatch = append(ifMatch, r.Header.Get("If-Match"))
		body := readBody(t, r)
		bodies = append(bodies, body)
		if im := r.Header.Get("If-Match"); im != "" && im != "revision_number=3" {
			writeJSON(w, 412, map[string]any{"NeutronError": map[string]any{
				"type": "RevisionNumberConstraintFailed", "message": "Constrained to 2, but current revision is 3", "detail": ""}})
			return
		}
		current++
		port, _ := body["floatingip"].(map[string]any)["port_id"].(string)
		writeJSON(w, 200, fipJSON("f1", port, current))
	})
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	_, err := c.AssociateFloatingIP(ctx, "f1", "port-9", 2)
	require.Error(t, err)
	assert.True(t, IsConflict(err))
	assert.True(t, IsPreconditionFailed(err))
	assert.False(t, IsRetryable(err))
	assert.Contains(t, err.Error(), "associate floating IP f1 with port port-9 at revision 2")
	assert.Contains(t, err.Error(), "RevisionNumberConstraintFailed: Constrained to 2, but current revision is 3")
	assert.Len(t, ifMatch, 1, "a stale revision is not retried")

	f, err := c.AssociateFloatingIP(ctx, "f1", "port-9", 3)
	require.NoError(t, err)
	assert.Equal(t, "port-9", f.PortID)
	assert.Equal(t, 4, f.RevisionNumber)

	f, err = c.DisassociateFloatingIP(ctx, "f1", 0)
	require.NoError(t, err)
	assert.Equal(t, "", f.PortID)
	assert.Equal(t, []string{"revision_number=2", "revision_number=3", ""}, ifMatch)
	assert.Equal(t, map[string]any{"floatingip": map[string]any{"port_id": nil}}, bodies[2], "disassociate sends port_id null")
}

func TestFloatingIPLifecycleRequests(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /network/v2.0/networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"network": map[string]any{"id": netUUID, "name": "public", "router:external": true}})
	})
	fc.handle("POST /network/v2.0/floatingips", func(w http.ResponseWriter, r *http.Request) {
		body := readBody(t, r)
		assert.Equal(t, map[string]any{"floatingip": map[string]any{"floating_network_id": netUUID, "description": "remint web"}}, body)
		writeJSON(w, 201, fipJSON("f1", "", 0))
	})
	fc.handle("GET /network/v2.0/floatingips", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("floating_ip_address") == "203.0.113.146" {
			writeJSON(w, 200, map[string]any{"floatingips": []any{fipJSON("f1", "", 0)["floatingip"]}})
			return
		}
		writeJSON(w, 200, map[string]any{"floatingips": []any{}})
	})
	fc.handle("DELETE /network/v2.0/floatingips/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "gone" {
			writeJSON(w, 404, map[string]any{"NeutronError": map[string]any{"type": "FloatingIPNotFound", "message": "Floating IP gone could not be found", "detail": ""}})
			return
		}
		w.WriteHeader(204)
	})
	c := fc.connect(t, fastPolicy)
	ctx := testCtx(t)

	f, err := c.AllocateFloatingIP(ctx, netUUID, "remint web")
	require.NoError(t, err)
	assert.Equal(t, FloatingIP{ID: "f1", Address: "203.0.113.146", NetworkID: netUUID, Status: "DOWN"}, f)

	found, err := c.FindFloatingIP(ctx, "203.0.113.146")
	require.NoError(t, err)
	assert.Equal(t, "f1", found.ID)
	_, err = c.FindFloatingIP(ctx, "198.51.100.1")
	assert.True(t, IsNotFound(err))

	require.NoError(t, c.ReleaseFloatingIP(ctx, "f1"))
	require.NoError(t, c.ReleaseFloatingIP(ctx, "gone"))
}
