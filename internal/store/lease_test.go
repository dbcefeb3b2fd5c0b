package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLeaseAcquireRefuseExpireRenewRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer s.Close()

	t0 := time.Date(2026, 11, 22, 12, 1, 3, 0, time.UTC)
	a := LeaseHolder{Host: "h1", PID: 1234, Command: "remint rebuild web", Started: t0.Add(-time.Second)}
	b := LeaseHolder{Host: "h2", PID: 99, Command: "remint rebuild web --resume", Started: t0}
	const ttl = 30 * time.Second

	la, err := s.AcquireLease(ctx, "group/web", a, ttl, t0)
	require.NoError(t, err)
	require.Len(t, la.Token, 32)
	require.Equal(t, t0.Add(ttl), la.Expires)

	// Refused while unexpired, with who holds it and since when.
	_, err = s.AcquireLease(ctx, "group/web", b, ttl, t0.Add(29*time.Second))
	require.ErrorIs(t, err, ErrLeaseHeld)
	var held *LeaseHeldError
	require.ErrorAs(t, err, &held)
	require.Equal(t, a, held.Current.Holder)
	require.Equal(t, t0, held.Current.Acquired)
	require.Empty(t, held.Current.Token, "the holder's token is never handed out")
	require.Contains(t, err.Error(), `"remint rebuild web" (pid 1234 on host h1) since 2026-11-22T12:01:03Z`)

	// Another key is independent.
	_, err = s.AcquireLease(ctx, "family/debian-12", b, ttl, t0)
	require.NoError(t, err)

	// Renewing takes the token; a wrong one is "lost" and changes nothing.
	_, err = s.RenewLease(ctx, "group/web", "not-the-token", ttl, t0.Add(10*time.Second))
	require.ErrorIs(t, err, ErrLeaseLost)
	la2, err := s.RenewLease(ctx, "group/web", la.Token, ttl, t0.Add(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, t0.Add(10*time.Second+ttl), la2.Expires)
	require.Equal(t, t0, la2.Acquired, "renewing keeps the acquisition time")
	// Renewed: still refused past the first expiry.
	_, err = s.AcquireLease(ctx, "group/web", b, ttl, t0.Add(35*time.Second))
	require.ErrorIs(t, err, ErrLeaseHeld)

	// Expired: taken over with a new token; the old holder has lost it.
	lb, err := s.AcquireLease(ctx, "group/web", b, ttl, t0.Add(40*time.Second))
	require.NoError(t, err)
	require.NotEqual(t, la.Token, lb.Token)
	_, err = s.RenewLease(ctx, "group/web", la.Token, ttl, t0.Add(41*time.Second))
	require.ErrorIs(t, err, ErrLeaseLost)
	// The old holder's release does not free the new holder's lease.
	require.NoError(t, s.ReleaseLease(ctx, "group/web", la.Token))
	cur, err := s.GetLease(ctx, "group/web")
	require.NoError(t, err)
	require.Equal(t, b, cur.Holder)
	require.Empty(t, cur.Token)

	// Released by its holder: free at once, and renewing it is lost.
	require.NoError(t, s.ReleaseLease(ctx, "group/web", lb.Token))
	_, err = s.GetLease(ctx, "group/web")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.RenewLease(ctx, "group/web", lb.Token, ttl, t0.Add(42*time.Second))
	require.ErrorIs(t, err, ErrLeaseLost)
	_, err = s.AcquireLease(ctx, "group/web", a, ttl, t0.Add(42*time.Second))
	require.NoError(t, err)

	_, err = s.AcquireLease(ctx, "group/web", a, 0, t0)
	require.Error(t, err)
}

// Two stores on one file (two processes) racing for one lease: exactly one wins.
func TestLeaseAcquireIsAtomicAcrossConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "remint.db")
	const n = 8
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(ctx, path)
		require.NoError(t, err)
		defer s.Close()
		stores[i] = s
	}
	now := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range stores {
		wg.Go(func() {
			_, errs[i] = s.AcquireLease(ctx, "group/web", LeaseHolder{Host: "h", PID: i}, time.Minute, now)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrLeaseHeld):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 1, won)
}

func TestLeaseMigrationIsAppended(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), ":memory:")
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(context.Background())
	require.NoError(t, err)
	require.Equal(t, len(migrations), v)
	require.GreaterOrEqual(t, v, 2)
}
