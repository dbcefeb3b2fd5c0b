package openstack

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failing answers status the first n times, then calls ok.
func failing(n int, status int, retryAfter int, ok http.HandlerFunc) http.HandlerFunc {
	var calls atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= int64(n) {
			if retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			}
			novaError(w, status, "computeFault", "Injected fault.")
			return
		}
		ok(w, r)
	}
}

func okServer(id string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"server": serverJSON(id, "web-1", "ACTIVE", nil)})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	for _, status := range []int{429, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			fc := newFakeCloud(t)
			fc.handle("GET /compute/v2.1/servers/s1", failing(2, status, 1, okServer("s1")))
			c := fc.connect(t, fastPolicy)
			start := time.Now()
			s, err := c.GetServer(testCtx(t), "s1")
			require.NoError(t, err)
			assert.Equal(t, "ACTIVE", s.Status)
			// Two Retry-After: 1 answers: at least two seconds, although the backoff
			// alone would have retried within 30ms.
			assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)
			assert.Equal(t, 3, fc.count("GET /compute/v2.1/servers/s1"))
			assert.EqualValues(t, 2, c.Stats().Retries)
		})
	}
}

func TestRetryBacksOffOn500ForReads(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", failing(3, 500, 0, okServer("s1")))
	c := fc.connect(t, fastPolicy)
	before := c.Stats().APICalls
	_, err := c.GetServer(testCtx(t), "s1")
	require.NoError(t, err)
	assert.Equal(t, 4, fc.count("GET /compute/v2.1/servers/s1"))
	assert.EqualValues(t, 4, c.Stats().APICalls-before, "every HTTP request is counted")
}

func TestRetryGivesUpAfterMax(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", failing(1000, 502, 0, okServer("s1")))
	policy := fastPolicy
	policy.Max = 300 * time.Millisecond
	c := fc.connect(t, policy)
	start := time.Now()
	_, err := c.GetServer(testCtx(t), "s1")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.True(t, IsRetryable(err))
	assert.Contains(t, err.Error(), "get server s1: ")
	assert.Contains(t, err.Error(), "HTTP 502: Injected fault.")
	assert.Contains(t, err.Error(), "gave up after")
	assert.Greater(t, fc.count("GET /compute/v2.1/servers/s1"), 2)
}

func TestRetryStopsWhenRetryAfterExceedsBudget(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", failing(1000, 503, 30, okServer("s1")))
	c := fc.connect(t, fastPolicy) // Max 5s < Retry-After 30s
	start := time.Now()
	_, err := c.GetServer(testCtx(t), "s1")
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, 1, fc.count("GET /compute/v2.1/servers/s1"))
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 30*time.Second, ae.RetryAfter)
}

func TestRetryNeverOnTerminalOrConflict(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 403, 404, 409} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			fc := newFakeCloud(t)
			fc.handle("GET /compute/v2.1/servers/s1", failing(1000, status, 0, okServer("s1")))
			c := fc.connect(t, fastPolicy)
			_, err := c.GetServer(testCtx(t), "s1")
			require.Error(t, err)
			assert.Equal(t, 1, fc.count("GET /compute/v2.1/servers/s1"))
			assert.Equal(t, status == 400 || status == 403, IsTerminal(err))
			assert.Equal(t, status == 404, IsNotFound(err))
			assert.Equal(t, status == 409, IsConflict(err))
		})
	}
}

func TestRetryCreateOnlyWhenSurelyNotSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		wantCalls int
		wantErr   bool
	}{
		{500, 1, true},  // may have created a server: not repeated
		{502, 1, true},  // idem
		{504, 1, true},  // idem
		{503, 2, false}, // refused before any work: repeated
		{429, 2, false}, // rate limited: repeated
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			fc := newFakeCloud(t)
			fc.handle("GET /compute/v2.1/flavors/1", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"flavor": map[string]any{"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}})
			})
			fc.handle("POST /compute/v2.1/servers", failing(1, tt.status, 0, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 202, map[string]any{"server": map[string]any{"id": "new-1", "adminPass": "x"}})
			}))
			c := fc.connect(t, fastPolicy)
			s, err := c.CreateServer(testCtx(t), ServerSpec{Name: "web-1", ImageID: "img-1", Flavor: "1"})
			assert.Equal(t, tt.wantCalls, fc.count("POST /compute/v2.1/servers"))
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "create server web-1")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "new-1", s.ID)
		})
	}
}

func TestRetryHonoursContext(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", failing(1000, 503, 2, okServer("s1")))
	c := fc.connect(t, RetryPolicy{Max: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetServer(ctx, "s1")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Contains(t, err.Error(), "last attempt")
	assert.Contains(t, err.Error(), "HTTP 503")
}

func TestRetryDisabledByNegativeMax(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud(t)
	fc.handle("GET /compute/v2.1/servers/s1", failing(1, 500, 0, okServer("s1")))
	c := fc.connect(t, RetryPolicy{Max: -1})
	_, err := c.GetServer(testCtx(t), "s1")
	require.Error(t, err)
	assert.Equal(t, 1, fc.count("GET /compute/v2.1/servers/s1"))
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Max: time.Hour, Base: 100 * time.Millisecond, MaxInterval: time.Second}.withDefaults()
	now := time.Now()
	var ra time.Duration
	b := p.backoff(now, func() time.Time { return now }, func() time.Duration { return ra })
	var got []time.Duration
	for range 6 {
		d, stop := b.Next()
		require.False(t, stop)
		got = append(got, d)
	}
	// 100ms, 200ms, 400ms, 800ms, then capped at 1s; each ±10%.
	for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		assert.InDelta(t, float64(want), float64(got[i]), float64(want)/10+1, "step %d", i)
	}
	ra = 5 * time.Second
	d, stop := b.Next()
	require.False(t, stop)
	assert.Equal(t, 5*time.Second, d, "Retry-After beats the backoff")
}
