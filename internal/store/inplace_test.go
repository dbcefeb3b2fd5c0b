package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInplaceRunRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, t.TempDir()+"/state.db")
	require.NoError(t, err)
	defer s.Close()
	_, err = s.LatestInplaceRun(ctx, "db")
	require.ErrorIs(t, err, ErrNotFound)

	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	require.NoError(t, s.CreateInplaceRun(ctx, InplaceRun{ID: "r1", Group: "db", Options: []byte(`{"security":true}`), Status: InplaceRunning, Created: now, Updated: now},
		[]InplaceServer{{ServerID: "b", ServerName: "db-1", Seq: 1, Status: "pending", Updated: now}, {ServerID: "a", ServerName: "db-0", Seq: 0, Status: "pending", Updated: now}}))
	require.NoError(t, s.PutInplaceServer(ctx, InplaceServer{RunID: "r1", ServerID: "a", ServerName: "db-0", Seq: 0, Phase: "security", Status: "running", Result: []byte(`{}`), Updated: now.Add(time.Second)}))
	r, err := s.LatestInplaceRun(ctx, "db")
	require.NoError(t, err)
	assert.Equal(t, InplaceRunning, r.Status)
	assert.JSONEq(t, `{"security":true}`, string(r.Options))
	svs, err := s.InplaceServers(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, svs, 2)
	assert.Equal(t, "db-0", svs[0].ServerName)
	assert.Equal(t, "security", svs[0].Phase)
	assert.Equal(t, now.Add(time.Second), svs[0].Updated)
	assert.Equal(t, "pending", svs[1].Status)

	require.NoError(t, s.SetInplaceRunStatus(ctx, "r1", InplaceFailed, "db-0: boom", now.Add(time.Minute)))
	r, err = s.LatestInplaceRun(ctx, "db")
	require.NoError(t, err)
	assert.Equal(t, InplaceFailed, r.Status)
	assert.Equal(t, "db-0: boom", r.Error)
	require.ErrorIs(t, s.SetInplaceRunStatus(ctx, "nope", InplaceFailed, "", now), ErrNotFound)
}
