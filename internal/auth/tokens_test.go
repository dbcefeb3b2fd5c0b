package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
)

// Two `remint token create --name ci` at once (two processes, one state file): exactly
// one gets a secret, the others ErrTokenExists, and the one secret handed out is the
// one that works.
func TestTokenCreateTwoAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	var stores []*store.Store
	for range 2 {
		st, err := store.Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var secrets []string
	exists := 0
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secret, _, err := (&auth.Tokens{Store: stores[i%2]}).Create(ctx, "ci", false, "test")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				secrets = append(secrets, secret)
			case errors.Is(err, store.ErrTokenExists):
				exists++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Len(t, secrets, 1)
	require.Equal(t, 5, exists)
	p, err := (&auth.Tokens{Store: stores[0]}).Authenticate(ctx, secrets[0])
	require.NoError(t, err)
	require.Equal(t, "ci", p.Name)
}
