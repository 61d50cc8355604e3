package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/migrations"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// tableExists reports whether the database at url has the public table name.
func tableExists(t *testing.T, url, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT to_regclass($1) IS NOT NULL", "public."+name).Scan(&exists))
	return exists
}

func TestMigrateUpDownStatus(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewEmptyDB(t)

	names, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	latest := fmt.Sprintf("schema at version %d", len(names))

	var out bytes.Buffer
	require.NoError(t, store.Migrate(ctx, url, "status", &out))
	require.Regexp(t, `(?m)^1\s+pending\s+-\s+00001_init\.sql$`, out.String())
	require.Regexp(t, `(?m)^2\s+pending\s+-\s+00002_tools\.sql$`, out.String())

	out.Reset()
	require.NoError(t, store.Migrate(ctx, url, "up", &out))
	require.Contains(t, out.String(), "00001_init.sql")
	require.Contains(t, out.String(), "00002_tools.sql")
	require.Contains(t, out.String(), latest)
	for _, table := range []string{"tasks", "subtasks", "llm_calls", "task_events", "audit_logs", "api_keys", "blobs", "tool_calls", "messages"} {
		require.True(t, tableExists(t, url, table), table)
	}

	out.Reset()
	require.NoError(t, store.Migrate(ctx, url, "status", &out))
	require.Regexp(t, `(?m)^1\s+applied\s+\d{4}-\d\d-\d\dT\S+\s+00001_init\.sql$`, out.String())

	out.Reset()
	require.NoError(t, store.Migrate(ctx, url, "up", &out), "up with nothing pending")
	require.Contains(t, out.String(), latest)

	// Down rolls back one migration at a time, the latest first.
	for i := len(names) - 1; i >= 0; i-- {
		out.Reset()
		require.NoError(t, store.Migrate(ctx, url, "down", &out))
		require.Contains(t, out.String(), "down "+names[i])
		switch names[i] {
		case "00002_tools.sql":
			require.False(t, tableExists(t, url, "tool_calls"))
			require.True(t, tableExists(t, url, "tasks"))
		case "00001_init.sql":
			require.False(t, tableExists(t, url, "tasks"))
			require.False(t, tableExists(t, url, "audit_logs"))
		}
	}
	require.ErrorContains(t, store.Migrate(ctx, url, "down", &out), "no migration to roll back")

	out.Reset()
	require.NoError(t, store.Migrate(ctx, url, "status", &out))
	require.Regexp(t, `(?m)^1\s+pending`, out.String())

	require.NoError(t, store.Migrate(ctx, url, "up", &out), "up again after down")
	require.True(t, tableExists(t, url, "tasks"))
	require.True(t, tableExists(t, url, "messages"))
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := storetest.NewEmptyDB(t)

	const migrators = 3
	errs := make([]error, migrators)
	var wg sync.WaitGroup
	for i := range migrators {
		wg.Go(func() {
			var out bytes.Buffer
			errs[i] = store.Migrate(t.Context(), url, "up", &out)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	var applied int
	require.NoError(t, conn.QueryRow(t.Context(),
		"SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied").Scan(&applied))
	require.Equal(t, 1, applied)
}

func TestMigrateRejectsUnknownCommand(t *testing.T) {
	t.Parallel()
	err := store.Migrate(t.Context(), storetest.URL(), "sideways", nil)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, `"sideways"`)
}
