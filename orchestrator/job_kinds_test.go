package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/internal/store"
)

// The build-image kind turns an image build's result into the job's record: a published
// image counts one, a skipped build says why, a failed one fails the job naming its step.
// (The pipeline itself is imagebuild's, tested there on real hosts.)
func TestBuildImageJobRecordsTheBuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	results := map[string]imagebuild.Result{
		"debian-12": {Status: "active", Version: "2026.11.3", ImageID: "img-3", BuildID: "b1"},
		"debian-13": {Status: "skipped", SkipReason: "nothing changed since 2026.11.2"},
		"ubuntu":    {Status: "failed", BuildID: "b3", FailedStep: "upgrade"},
	}
	h := BuildImageHandler{
		Families: func(name string) bool { _, ok := results[name]; return ok },
		Build: func(ctx context.Context, family string, o BuildImageOptions, step func(imagebuild.Event)) (imagebuild.Result, error) {
			step(imagebuild.Event{Step: "launch", Status: "done"})
			r := results[family]
			if r.Status == "failed" {
				step(imagebuild.Event{Step: "upgrade", Status: "failed", Message: "apt exited 100"})
				return r, fmt.Errorf("upgrade: apt exited 100: %w", imagebuild.ErrBuildFailed)
			}
			return r, nil
		},
	}
	q, err := NewQueue(ctx, st, Registry{KindBuildImage: h}, QueueConfig{Workers: 3, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second})
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	defer q.Stop(ctx)

	_, err = q.Insert(ctx, JobRequest{Kind: KindBuildImage, Target: "nope"}, nil)
	var bad BadRequestError
	require.ErrorAs(t, err, &bad)
	_, err = q.Insert(ctx, JobRequest{Kind: KindBuildImage, Target: "debian-12", Options: json.RawMessage(`{"color":"red"}`)}, nil)
	require.ErrorAs(t, err, &bad, "unknown options are refused")

	ids := map[string]int64{}
	for _, f := range []string{"debian-12", "debian-13", "ubuntu"} {
		j, err := q.Insert(ctx, JobRequest{Kind: KindBuildImage, Target: f, Options: json.RawMessage(`{"only_if_changed":true}`)}, nil)
		require.NoError(t, err)
		ids[f] = j.ID
	}
	ok := waitStatus(t, q, ids["debian-12"], StatusSucceeded)
	require.Equal(t, 1, ok.Installed)
	require.Equal(t, []string{"build an image of debian-12 (only if changed: true)", "published debian-12 2026.11.3 (image img-3, build b1, 0 package changes)"}, ok.Decisions)
	skipped := waitStatus(t, q, ids["debian-13"], StatusSucceeded)
	require.Equal(t, 0, skipped.Installed)
	require.Contains(t, skipped.Decisions, "no build: nothing changed since 2026.11.2")
	failed := waitStatus(t, q, ids["ubuntu"], StatusFailed)
	require.Equal(t, 1, failed.Failed)
	require.Contains(t, failed.Reason, "build b3 failed at step upgrade")
	var sawStep bool
	for _, e := range failed.Events {
		sawStep = sawStep || (e.Level == "error" && e.Message == "build step upgrade: failed: apt exited 100")
	}
	require.True(t, sawStep, "%+v", failed.Events)
}
