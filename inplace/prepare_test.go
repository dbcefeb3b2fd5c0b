package inplace

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

type fakeFleet struct {
	servers []Server
	status  map[string]string
}

func (f fakeFleet) GroupServers(context.Context, string) ([]Server, map[string]string, error) {
	return f.servers, f.status, nil
}

func (f fakeFleet) ServersByID(_ context.Context, ids []string) ([]Server, error) {
	var out []Server
	for _, id := range ids {
		for _, s := range f.servers {
			if s.ID == id {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	fleet := fakeFleet{
		servers: []Server{{ID: "a", Name: "db-0", Addr: "10.0.0.2"}, {ID: "b", Name: "db-1", Addr: "10.0.0.3"}, {ID: "c", Name: "db-2", Addr: "10.0.0.4"}},
		status:  map[string]string{"a": "ACTIVE", "b": "ACTIVE", "c": "SHUTOFF"},
	}
	ids := 0
	req := Request{Group: "db", Options: Options{Security: true}, NewID: func() string { ids++; return "new" }}
	var inErr *InputError

	_, err = Prepare(ctx, st, fleet, Request{Group: "db", Resume: true})
	require.ErrorAs(t, err, &inErr)
	assert.Contains(t, err.Error(), "no unfinished in-place run")

	r := req
	r.Names = []string{"db-1", "db-9"}
	_, err = Prepare(ctx, st, fleet, r)
	require.ErrorAs(t, err, &inErr)
	assert.Contains(t, err.Error(), "--servers: db-9 not among group db's servers (db-0, db-1, db-2)")

	_, err = Prepare(ctx, st, fleet, req)
	require.Error(t, err)
	assert.False(t, errors.As(err, &inErr))
	assert.Contains(t, err.Error(), "only ACTIVE servers are patched: db-2 is SHUTOFF")

	r = req
	r.Names = []string{"db-1", "db-0"}
	r.Options.Weave, r.Options.WeaveSpec = true, &WeaveSpec{Version: "2.8.1", ScriptURL: "https://x/weave", SHA256: "00"}
	plan, err := Prepare(ctx, st, fleet, r)
	require.NoError(t, err)
	assert.Equal(t, "new", plan.ID)
	assert.Equal(t, []Server{fleet.servers[1], fleet.servers[0]}, plan.Servers)
	assert.Equal(t, []string{"10.0.0.3", "10.0.0.2"}, plan.Options.WeaveSpec.Peers)
	assert.Nil(t, r.Options.WeaveSpec.Peers, "the request's spec is not changed")

	// A run whose process died: recorded as running.
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	require.NoError(t, st.CreateInplaceRun(ctx, store.InplaceRun{ID: "dead", Group: "db", Options: []byte(`{"security":true,"reboot":"always","concurrency":2}`),
		Status: store.InplaceRunning, Created: now, Updated: now},
		[]store.InplaceServer{{ServerID: "a", ServerName: "db-0", Seq: 0, Phase: PhaseDone, Status: StatusSucceeded, Result: []byte(`{"status":"succeeded"}`), Updated: now},
			{ServerID: "b", ServerName: "db-1", Seq: 1, Phase: PhaseSecurity, Status: StatusRunning, Updated: now}}))
	_, err = Prepare(ctx, st, fleet, Request{Group: "db", Names: []string{"db-0"}, Options: Options{Security: true}, NewID: func() string { return "x" }})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in-place run dead of group db started 2026-11-27T12:00:00Z did not finish (its process was killed or lost): db-0 succeeded (phase done), db-1 running (phase security); `remint inplace db --resume` continues it")

	dry := Request{Group: "db", Names: []string{"db-0"}, Options: Options{Security: true, DryRun: true}, NewID: func() string { return "dry" }}
	plan, err = Prepare(ctx, st, fleet, dry)
	require.NoError(t, err, "a dry run changes nothing, so it may look while a run is unfinished")
	assert.Equal(t, "dry", plan.ID)

	plan, err = Prepare(ctx, st, fleet, Request{Group: "db", Resume: true, Options: Options{Docker: true}})
	require.NoError(t, err)
	assert.Equal(t, "dead", plan.ID)
	assert.True(t, plan.Resume)
	assert.Equal(t, Options{Security: true, Reboot: RebootAlways, Concurrency: 2}, plan.Options, "the recorded options, not the new flags")
	assert.Equal(t, []Server{fleet.servers[0], fleet.servers[1]}, plan.Servers)
	assert.Equal(t, StatusSucceeded, plan.Done["a"].Status)
	assert.Equal(t, StatusRunning, plan.Done["b"].Status)
}
