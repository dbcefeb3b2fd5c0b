package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/sim/workload"
)

// workloadServer serves the real workload handler for info, counting new connections.
func workloadServer(t *testing.T, info workload.Info) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(workload.Handler(info, workload.Options{}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func testLoadConfig(urls ...string) Config {
	return Config{URLs: urls, Duration: 400 * time.Millisecond, Concurrency: 2, Interval: time.Millisecond,
		ReconnectAfter: time.Minute, Timeout: 2 * time.Second, Now: time.Now}
}

func TestLoadCountsAnswersPerURLOnKeptAliveConnections(t *testing.T) {
	t.Parallel()
	a, connsA := workloadServer(t, workload.Info{ServerID: "srv-a", ServerName: "web-0", ImageName: "debian-12-2026.11.1", ImageVersion: "2026.11.1"})
	b, connsB := workloadServer(t, workload.Info{ServerID: "srv-b", ServerName: "web-1", ImageName: "debian-12-2026.11.2", ImageVersion: "2026.11.2"})

	rep := Run(context.Background(), testLoadConfig(a.URL+"/", b.URL+"/"))

	require.Len(t, rep.URLs, 2)
	assert.Zero(t, rep.Failed)
	assert.Equal(t, "duration", rep.StoppedBy)
	assert.Equal(t, rep.URLs[0].Total+rep.URLs[1].Total, rep.Total)
	for i, want := range []struct{ server, version string }{{"srv-a", "2026.11.1"}, {"srv-b", "2026.11.2"}} {
		u := rep.URLs[i]
		assert.Greater(t, u.Total, int64(10), u.URL)
		assert.Equal(t, map[string]int64{want.version: u.Total}, u.Versions)
		require.Len(t, u.Servers, 1)
		assert.Equal(t, want.server, u.Servers[0].ServerID)
		assert.Equal(t, u.Total, u.Servers[0].Count)
	}
	// Two workers, each with one kept-alive connection per URL.
	assert.LessOrEqual(t, connsA.Load(), int64(2))
	assert.LessOrEqual(t, connsB.Load(), int64(2))
}

func TestLoadReconnectsOldConnections(t *testing.T) {
	t.Parallel()
	srv, conns := workloadServer(t, workload.Info{ServerID: "srv-a", ImageVersion: "2026.11.1"})
	cfg := testLoadConfig(srv.URL + "/")
	cfg.Concurrency = 1
	cfg.Interval = 5 * time.Millisecond
	cfg.ReconnectAfter = 50 * time.Millisecond

	rep := Run(context.Background(), cfg)

	assert.Zero(t, rep.Failed)
	// 400ms of load with connections recycled after 50ms: several, but far fewer than requests.
	assert.GreaterOrEqual(t, conns.Load(), int64(4))
	assert.Less(t, conns.Load(), rep.Total/2)
}

func TestLoadFollowsAMovedAddress(t *testing.T) {
	t.Parallel()
	oldSrv := workload.Handler(workload.Info{ServerID: "old", ServerName: "web-0-old", ImageVersion: "2026.11.1"}, workload.Options{})
	newSrv := workload.Handler(workload.Info{ServerID: "new", ServerName: "web-0-new", ImageVersion: "2026.11.2"}, workload.Options{})
	var moved atomic.Bool
	// Like a floating IP: the target is chosen per connection, so kept-alive connections
	// stay with the old server until they are recycled.
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		h := oldSrv
		if moved.Load() {
			h = newSrv
		}
		return context.WithValue(ctx, connTargetKey{}, h)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Context().Value(connTargetKey{}).(http.Handler).ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(srv.Close)
	time.AfterFunc(150*time.Millisecond, func() { moved.Store(true) })

	cfg := testLoadConfig(srv.URL + "/")
	cfg.Concurrency = 1
	cfg.ReconnectAfter = 50 * time.Millisecond
	rep := Run(context.Background(), cfg)

	assert.Zero(t, rep.Failed)
	u := rep.URLs[0]
	require.Len(t, u.Servers, 2, "old server, then the new one")
	assert.Equal(t, "old", u.Servers[0].ServerID)
	assert.Equal(t, "new", u.Servers[1].ServerID)
	assert.Equal(t, u.Servers[0].Count, u.Versions["2026.11.1"])
	assert.Equal(t, u.Servers[1].Count, u.Versions["2026.11.2"])
	assert.True(t, u.Servers[0].First.Before(u.Servers[1].First))
	assert.False(t, u.Servers[1].Last.Before(u.Servers[0].Last), "the new server answers last")
}

type connTargetKey struct{}

func TestURLStatsListsServersInOrderOfFirstAnswer(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	many := make([]string, MaxServers+2) // two servers more than are listed
	for i := range many {
		many[i] = fmt.Sprintf("s%02d", i)
	}
	tests := []struct {
		name    string
		answers []string // server ids, one answer per second
		want    []AnswerRun
		others  int64
	}{
		{name: "one server", answers: []string{"a", "a", "a"},
			want: []AnswerRun{{ServerID: "a", Count: 3, First: base, Last: base.Add(2 * time.Second)}}},
		{name: "overlap around a move", answers: []string{"a", "a", "b", "a", "b", "b"},
			want: []AnswerRun{
				{ServerID: "a", Count: 3, First: base, Last: base.Add(3 * time.Second)},
				{ServerID: "b", Count: 3, First: base.Add(2 * time.Second), Last: base.Add(5 * time.Second)},
			}},
		{name: "bounded", answers: append(many, "s00"), others: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &urlStats{rep: URLReport{Versions: map[string]int64{}}}
			for i, id := range tc.answers {
				s.ok(Answer{ServerID: id, ImageVersion: "v"}, base.Add(time.Duration(i)*time.Second))
			}
			assert.Equal(t, int64(len(tc.answers)), s.rep.Total)
			assert.Equal(t, map[string]int64{"v": int64(len(tc.answers))}, s.rep.Versions)
			assert.Equal(t, tc.others, s.rep.OtherServers)
			if tc.want != nil {
				for i := range tc.want {
					tc.want[i].ImageVersion = "v"
				}
				assert.Equal(t, tc.want, s.rep.Servers)
			} else {
				assert.Len(t, s.rep.Servers, MaxServers)
				assert.Equal(t, int64(2), s.rep.Servers[0].Count, "a known server still counts after the cap")
			}
		})
	}
}

func TestLoadCountsFailures(t *testing.T) {
	t.Parallel()
	unhealthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(unhealthy.Close)
	notWorkload := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}))
	t.Cleanup(notWorkload.Close)
	anonymous := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"image_version":"1"}`))
	}))
	t.Cleanup(anonymous.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/"
	closed.Close() // connection refused

	rep := Run(context.Background(), testLoadConfig(unhealthy.URL+"/", notWorkload.URL+"/", anonymous.URL+"/", closedURL))

	for _, u := range rep.URLs {
		assert.Positive(t, u.Total, u.URL)
		assert.Equal(t, u.Total, u.Failed, u.URL)
		assert.Empty(t, u.Servers, u.URL)
		assert.LessOrEqual(t, len(u.Errors), MaxErrorKinds, u.URL)
	}
	assert.Contains(t, rep.URLs[0].Errors, "status 503 Service Unavailable")
	assert.Contains(t, rep.URLs[2].Errors, "answer names no server (no server_id, no X-Remint-Server-Id)")
	assert.Equal(t, rep.Total, rep.Failed)
}

// An application that is not the simulator's workload is measured too, as long as its
// answers name the server in the header.
func TestLoadReadsTheServerFromTheHeader(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(HeaderServerID, "srv-h")
		_, _ = w.Write([]byte(`{"image_version":"2026.11.2","other":"ignored"}`))
	}))
	t.Cleanup(app.Close)
	require.Equal(t, HeaderServerID, workload.HeaderServerID, "the simulator's workload sets the header loadgen reads")

	rep := Run(context.Background(), testLoadConfig(app.URL+"/"))

	require.Len(t, rep.URLs, 1)
	assert.Zero(t, rep.Failed)
	require.Len(t, rep.URLs[0].Servers, 1)
	assert.Equal(t, "srv-h", rep.URLs[0].Servers[0].ServerID)
	assert.Equal(t, map[string]int64{"2026.11.2": rep.Total}, rep.URLs[0].Versions)
}

func TestLoadStops(t *testing.T) {
	t.Parallel()
	srv, _ := workloadServer(t, workload.Info{ServerID: "a"})

	t.Run("until-file", func(t *testing.T) {
		t.Parallel()
		stopFile := filepath.Join(t.TempDir(), "stop")
		cfg := testLoadConfig(srv.URL + "/")
		cfg.Duration = time.Minute
		cfg.UntilFile = stopFile
		time.AfterFunc(200*time.Millisecond, func() { _ = os.WriteFile(stopFile, nil, 0o600) })
		began := time.Now()
		rep := Run(context.Background(), cfg)
		assert.Equal(t, "until-file", rep.StoppedBy)
		assert.Less(t, time.Since(began), 10*time.Second)
		assert.Positive(t, rep.Total)
	})
	t.Run("signal", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		cfg := testLoadConfig(srv.URL + "/")
		cfg.Duration = time.Minute
		began := time.Now()
		rep := Run(ctx, cfg)
		assert.Equal(t, "signal", rep.StoppedBy)
		assert.Less(t, time.Since(began), 10*time.Second)
		assert.Zero(t, rep.Failed, "requests in flight at the stop finish and count as answered")
	})
}
