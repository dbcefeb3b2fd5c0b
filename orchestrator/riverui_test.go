package orchestrator

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store/pgtest"
)

func TestRiverUISQLite(t *testing.T) {
	t.Parallel()
	testRiverUI(t, filepath.Join(t.TempDir(), "state.db"))
}

func TestRiverUIPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	testRiverUI(t, pgtest.Start(t))
}

// River's UI serves its page and its API on the store's database, SQLite or PostgreSQL:
// a queued job is listed, the states are counted, a job's page is found.
func testRiverUI(t *testing.T, path string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	_, q := openTestQueue(t, path, 0, &testHandler{})
	j, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "web"}, nil)
	require.NoError(t, err)
	h, err := q.RiverUI(ctx, "/riverui", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/riverui/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func(p string) (int, string) {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/riverui/")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "<html")
	code, body = get("/riverui/api/jobs?state=available&limit=10")
	require.Equal(t, http.StatusOK, code, body)
	var list struct {
		Data []struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
			Args string `json:"args"` // River's encoded args, as a string
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list), body)
	require.Len(t, list.Data, 1, body)
	require.Equal(t, j.ID, list.Data[0].ID)
	require.Equal(t, "remint", list.Data[0].Kind)
	require.JSONEq(t, `{"kind":"test","target":"web"}`, list.Data[0].Args)
	code, body = get("/riverui/api/states")
	require.Equal(t, http.StatusOK, code, body)
	var states map[string]struct {
		Count int `json:"count"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &states), body)
	require.Equal(t, 1, states["available"].Count, body)
	code, body = get("/riverui/api/jobs/" + strconv.FormatInt(j.ID, 10))
	require.Equal(t, http.StatusOK, code, body)

	// Its writes would bypass remint's job log: refused, and the job is untouched.
	resp, err := http.Post(srv.URL+"/riverui/api/jobs/cancel", "application/json", strings.NewReader(`{"ids":["`+strconv.FormatInt(j.ID, 10)+`"]}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, string(b))
	require.Contains(t, string(b), "remint job cancel")
	got, err := q.Get(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, StatusQueued, got.Status)
}
