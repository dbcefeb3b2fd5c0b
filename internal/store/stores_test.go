package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
)

// forEachStore runs test on a fresh SQLite store and, unless -short, on a fresh
// PostgreSQL one, as the subtests "sqlite" and "postgres".
func forEachStore(t *testing.T, test func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		require.NoError(t, err)
		defer st.Close()
		test(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts PostgreSQL")
		}
		st, err := store.Open(context.Background(), pgtest.Start(t))
		require.NoError(t, err)
		defer st.Close()
		test(t, st)
	})
}
