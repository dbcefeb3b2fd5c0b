package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/stretchr/testify/require"
)

func hostPort(t *testing.T, url string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return h, port
}

func TestHTTPProbe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprintln(w, "ok")
		case "/named":
			w.Header().Set("X-Server", "srv-new")
			fmt.Fprintln(w, "ok")
		case "/sick":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unhealthy")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	host, port := hostPort(t, srv.URL)
	tests := []struct {
		name    string
		probe   HTTP
		wantErr string
	}{
		{"healthy", HTTP{Port: port, Path: "/healthz", Status: 200}, ""},
		{"body matches", HTTP{Port: port, Path: "/healthz", Status: 200, Body: "ok"}, ""},
		{"body differs", HTTP{Port: port, Path: "/healthz", Status: 200, Body: "ready"}, `does not contain "ready"`},
		{"wrong status", HTTP{Port: port, Path: "/sick", Status: 200}, "status 503, want 200"},
		{"expects 503", HTTP{Port: port, Path: "/sick", Status: 503}, ""},
		{"named by the wanted server", HTTP{Port: port, Path: "/named", Status: 200, ServerHeader: "X-Server", WantServer: "srv-new"}, ""},
		{"named by another server", HTTP{Port: port, Path: "/named", Status: 200, ServerHeader: "X-Server", WantServer: "srv-old"}, "answered by server srv-new, want srv-old"},
		{"unnamed answer passes", HTTP{Port: port, Path: "/healthz", Status: 200, ServerHeader: "X-Server", WantServer: "srv-old"}, ""},
		{"header ignored without a wanted server", HTTP{Port: port, Path: "/named", Status: 200, ServerHeader: "X-Server"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.probe.Probe(context.Background(), host)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestTCPProbe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, TCP{Port: port}.Probe(context.Background(), "127.0.0.1"))
	ln.Close()
	require.ErrorContains(t, TCP{Port: port}.Probe(context.Background(), "127.0.0.1"), "refused")
}

// flaky passes or fails according to a script of results, then repeats the last.
type flaky struct {
	script []bool
	n      atomic.Int64
}

func (f *flaky) Probe(context.Context, string) error {
	i := int(f.n.Add(1)) - 1
	if i >= len(f.script) {
		i = len(f.script) - 1
	}
	if f.script[i] {
		return nil
	}
	return errors.New("connection refused")
}
func (f *flaky) String() string { return "scripted" }

func TestWait(t *testing.T) {
	t.Parallel()
	fast := Policy{Interval: time.Millisecond, Timeout: time.Second, HealthyThreshold: 3, UnhealthyThreshold: 2, Deadline: 2 * time.Second}
	tests := []struct {
		name       string
		script     []bool
		pol        Policy
		wantErr    string
		wantProbes int64
	}{
		{"healthy at once", []bool{true}, fast, "", 3},
		{"slow start then healthy", []bool{false, false, false, true}, fast, "", 6},
		{"a blip resets the count", []bool{true, true, false, true, true, true}, fast, "", 6},
		{"goes bad after passing", []bool{true, false, false}, fast, "2 consecutive failures after passing", 3},
		{"never healthy", []bool{false}, Policy{Interval: 5 * time.Millisecond, HealthyThreshold: 1, Deadline: 50 * time.Millisecond}, "within 50ms", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &flaky{script: tt.script}
			var seen int
			err := Wait(context.Background(), p, "h", tt.pol, func(r Result) { seen++ })
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorIs(t, err, ErrUnhealthy)
			}
			if tt.wantProbes >= 0 {
				require.Equal(t, tt.wantProbes, p.n.Load())
				require.Equal(t, int(tt.wantProbes), seen)
			}
		})
	}
}

func TestWaitGracePeriodAndCancel(t *testing.T) {
	t.Parallel()
	p := &flaky{script: []bool{true}}
	start := time.Now()
	require.NoError(t, Wait(context.Background(), p, "h", Policy{GracePeriod: 30 * time.Millisecond, Interval: time.Millisecond, HealthyThreshold: 1}, nil))
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Wait(ctx, &flaky{script: []bool{false}}, "h", Policy{Interval: time.Millisecond}, nil)
	require.ErrorIs(t, err, context.Canceled)
}

type fakeRunner struct{ status int }

func (f fakeRunner) RunCheck(_ context.Context, _ string, argv []string) (int, string, error) {
	return f.status, "ran " + strings.Join(argv, " "), nil
}

func TestFromManifest(t *testing.T) {
	t.Parallel()
	p, pol, err := FromManifest(manifest.HealthCheck{HTTP: &manifest.HTTPCheck{}}, nil)
	require.NoError(t, err)
	require.Equal(t, HTTP{Port: 8080, Path: "/healthz", Status: 200}, p)
	require.Equal(t, 3, pol.HealthyThreshold)
	require.Equal(t, time.Second, pol.Interval)

	p, _, err = FromManifest(manifest.HealthCheck{Command: "systemctl is-active app"}, fakeRunner{status: 3})
	require.NoError(t, err)
	require.ErrorContains(t, p.Probe(context.Background(), "10.0.0.5"), `exit status 3: ran systemctl is-active app`)

	_, _, err = FromManifest(manifest.HealthCheck{}, nil)
	require.Error(t, err)
}
