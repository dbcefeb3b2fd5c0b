package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
)

// pickupHandler reports when each job starts running.
type pickupHandler struct{ started chan time.Time }

func (pickupHandler) Check(string, json.RawMessage) error { return nil }
func (h pickupHandler) Run(ctx context.Context, w *Work) error {
	h.started <- time.Now()
	return nil
}

// BenchmarkJobPickup measures the latency from Insert returning to the job's handler
// running (SQLite state file, the daemon's default 500ms poll interval: River polls, as
// neither database notifies here; one job at a time), and reports p50 and p99 in
// milliseconds.
func BenchmarkJobPickup(b *testing.B) {
	benchPickup(b, filepath.Join(b.TempDir(), "state.db"))
}

// BenchmarkJobPickupPostgres is BenchmarkJobPickup on PostgreSQL (a throwaway cluster).
func BenchmarkJobPickupPostgres(b *testing.B) {
	benchPickup(b, pgtest.Start(b))
}

func benchPickup(b *testing.B, state string) {
	ctx := context.Background()
	st, err := store.Open(ctx, state)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := pickupHandler{started: make(chan time.Time, 1)}
	q, err := NewQueue(ctx, st, Registry{"pickup": h}, QueueConfig{Workers: 4, Holder: store.LeaseHolder{Host: "bench", PID: 1}})
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer q.Stop(ctx)
	const jobs = 100
	for b.Loop() {
		lat := make([]time.Duration, 0, jobs)
		for i := range jobs {
			if _, err := q.Insert(ctx, JobRequest{Kind: "pickup", Target: fmt.Sprintf("t%d", i)}, nil); err != nil {
				b.Fatal(err)
			}
			inserted := time.Now()
			lat = append(lat, (<-h.started).Sub(inserted))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
