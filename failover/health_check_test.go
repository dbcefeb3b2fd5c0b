package failover

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
)

// TestHTTPGateChecksWhoAnswers: the gate is the group's HTTP probe plus "the answer, when
// it names its server, names the replacement".
func TestHTTPGateChecksWhoAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.URL.Query().Get("as"); id != "" {
			w.Header().Set(HeaderServerID, id)
		}
		if r.URL.Path == "/sick" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	host, p, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)

	spec := Spec{Group: "web", Health: Health{Check: manifest.HealthCheck{HTTP: &manifest.HTTPCheck{Port: port, Path: "/healthz?as=srv-new"}}}}
	prober, _, gate, err := ProbesFor(spec, nil)
	require.NoError(t, err)
	require.IsType(t, health.HTTP{}, prober)
	require.IsType(t, HTTPGate{}, gate)
	require.Equal(t, http.StatusOK, gate.(HTTPGate).Probe.Status, "the gate gets the prober's defaults")

	ctx := context.Background()
	require.NoError(t, gate.CheckAddress(ctx, host, "srv-new"))
	require.ErrorContains(t, gate.CheckAddress(ctx, host, "srv-old"), "answered by server srv-new, want srv-old")

	unnamed := HTTPGate{Probe: health.HTTP{Port: port, Path: "/healthz", Status: http.StatusOK, Body: "ok"}}
	require.NoError(t, unnamed.CheckAddress(ctx, host, "srv-old"), "an answer that names no server passes on status and body")
	sick := HTTPGate{Probe: health.HTTP{Port: port, Path: "/sick?as=srv-new", Status: http.StatusOK}}
	require.ErrorContains(t, sick.CheckAddress(ctx, host, "srv-new"), "status 503, want 200")
}
