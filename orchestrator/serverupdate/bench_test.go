package serverupdate_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stackitcloud/stackit-sdk-go/core/config"
	"github.com/stackitcloud/stackit-sdk-go/services/serverupdate"

	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
	"github.com/remint-dev/remint/orchestrator"
	su "github.com/remint-dev/remint/orchestrator/serverupdate"
)

// benchUpdates is how many updates the listed server has.
const benchUpdates = 10000

// BenchmarkListUpdates measures STACKIT's ListUpdates, through the SDK over HTTP, of a
// server with 10,000 updates (River jobs with their records, on a SQLite state file):
// the API reads them a page of su.ListPage at a time by target and kind, newest first.
// It reports p50 and p99 latency per request and throughput in updates listed per second.
func BenchmarkListUpdates(b *testing.B) {
	benchList(b, filepath.Join(b.TempDir(), "state.db"))
}

// BenchmarkListUpdatesPostgres is BenchmarkListUpdates on PostgreSQL (a throwaway cluster).
func BenchmarkListUpdatesPostgres(b *testing.B) {
	benchList(b, pgtest.Start(b))
}

func benchList(b *testing.B, state string) {
	ctx := context.Background()
	st, err := store.Open(ctx, state)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	work := &updateWork{}
	q, err := orchestrator.NewQueue(ctx, st, orchestrator.Registry{orchestrator.KindUpdate: work}, orchestrator.QueueConfig{})
	if err != nil {
		b.Fatal(err)
	}
	// 10,000 updates of slot 1 of web (one unfinished job per target at a time: each is
	// cancelled before the next), and one of another slot after every tenth, which the
	// listing must pass over.
	start := time.Now()
	for i := range benchUpdates {
		targets := []string{"web/1"}
		if i%10 == 9 {
			targets = append(targets, "web/0")
		}
		for _, target := range targets {
			j, err := q.Insert(ctx, orchestrator.JobRequest{Kind: orchestrator.KindUpdate, Target: target, RequestedBy: "bench"}, nil)
			if err != nil {
				b.Fatalf("insert update %d: %v", i, err)
			}
			if _, err := q.Cancel(ctx, j.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("%d updates inserted in %s", benchUpdates+benchUpdates/10, time.Since(start).Round(time.Millisecond))
	h := su.New(su.Config{Jobs: orchestrator.Local{Queue: q}, Schedules: &orchestrator.ScheduleBook{Store: st, Targets: targets{}},
		Services: st, Servers: servers, ProjectID: func(context.Context) (string, error) { return project, nil }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := serverupdate.NewAPIClient(config.WithEndpoint(srv.URL), config.WithToken(token))
	if err != nil {
		b.Fatal(err)
	}
	const requests = 20
	for b.Loop() {
		lat := make([]time.Duration, 0, requests)
		var items int
		began := time.Now()
		for range requests {
			t0 := time.Now()
			list, err := c.ListUpdates(ctx, project, web1).Execute()
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if n := len(*list.Items); n != benchUpdates {
				b.Fatalf("listed %d updates, want %d", n, benchUpdates)
			}
			items += len(*list.Items)
		}
		total := time.Since(began)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(items)/total.Seconds(), "updates/s")
		b.ReportMetric(float64(requests)/total.Seconds(), "requests/s")
	}
}
