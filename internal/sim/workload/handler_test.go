package workload

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testInfo = Info{
	ServerID: "srv-1", ServerName: "web 1", ImageID: "img-1", ImageName: "debian-12-remint",
	ImageVersion: "2026.11.1", Hostname: "web-1",
}

func fixedNow() time.Time { return time.Date(2026, 11, 22, 5, 0, 0, 123, time.UTC) }

func TestHandlerRoot(t *testing.T) {
	t.Parallel()
	h := Handler(testInfo, Options{Now: fixedNow})
	tests := []struct {
		name, accept, wantType, wantBody string
	}{
		{"default is JSON", "", "application/json",
			`{"server_id":"srv-1","server_name":"web 1","image_id":"img-1","image_name":"debian-12-remint","image_version":"2026.11.1","hostname":"web-1","served_at":"2026-11-22T05:00:00.000000123Z"}` + "\n"},
		{"explicit JSON", "application/json", "application/json", ""},
		{"browser gets JSON", "text/html,application/xhtml+xml", "application/json", ""},
		{"text", "text/plain", "text/plain; charset=utf-8",
			`server_id=srv-1 server_name="web 1" image_id=img-1 image_name=debian-12-remint image_version=2026.11.1 hostname=web-1 served_at=2026-11-22T05:00:00.000000123Z` + "\n"},
		{"text with params", "text/plain; charset=utf-8, */*", "text/plain; charset=utf-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, tt.wantType, rec.Header().Get("Content-Type"))
			assert.Equal(t, "srv-1", rec.Header().Get(HeaderServerID))
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, rec.Body.String())
			}
			if tt.wantType == "application/json" {
				var got map[string]string
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
				assert.Equal(t, "2026.11.1", got["image_version"])
			}
		})
	}
}

func TestHandlerHealthAndRouting(t *testing.T) {
	t.Parallel()
	health := NewHealth(true)
	h := Handler(testInfo, Options{Health: health})
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	rec := do(http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())

	health.Set(false)
	rec = do(http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "unhealthy\n", rec.Body.String())
	// The app itself still answers: unhealthy is not down.
	assert.Equal(t, http.StatusOK, do(http.MethodGet, "/").Code)

	health.Set(true)
	assert.Equal(t, http.StatusOK, do(http.MethodGet, "/healthz").Code)

	assert.Equal(t, http.StatusNotFound, do(http.MethodGet, "/nope").Code)
	assert.Equal(t, http.StatusMethodNotAllowed, do(http.MethodPost, "/").Code)
	assert.Equal(t, http.StatusOK, do(http.MethodHead, "/healthz").Code)
}
