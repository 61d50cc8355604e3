package storetest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store/storetest"
)

// databaseExists reports whether the test server has a database called name.
func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), storetest.URL())
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	return exists
}

func TestNewDBIsMigratedIsolatedAndDropped(t *testing.T) {
	var names []string
	t.Run("databases", func(t *testing.T) {
		for range 2 {
			dbURL := storetest.NewDB(t)
			u, err := url.Parse(dbURL)
			require.NoError(t, err)
			name := strings.TrimPrefix(u.Path, "/")
			names = append(names, name)
			require.True(t, databaseExists(t, name))

			conn, err := pgx.Connect(t.Context(), dbURL)
			require.NoError(t, err)
			var tasks int
			require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM tasks").Scan(&tasks))
			require.Zero(t, tasks, "each database starts empty")
			_, err = conn.Exec(t.Context(), `INSERT INTO tasks (id, tenant_id, type, created_at, updated_at)
				VALUES (gen_random_uuid(), 'acme', 'summarize', now(), now())`)
			require.NoError(t, err)
			require.NoError(t, conn.Close(t.Context()))
		}
		require.NotEqual(t, names[0], names[1])
	})
	for _, name := range names {
		require.False(t, databaseExists(t, name), "dropped when its test ended")
	}
}

func TestNewStore(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	require.NoError(t, s.Ping(t.Context()))
}
