package migrations_test

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/migrations"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

func TestFilesAreNumberedGooseMigrations(t *testing.T) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for i, name := range names {
		version, err := goose.NumericComponent(name)
		require.NoError(t, err, name)
		require.Equal(t, int64(i+1), version, "%s: versions are consecutive from 1", name)
		data, err := fs.ReadFile(migrations.FS, name)
		require.NoError(t, err)
		require.Contains(t, string(data), "-- +goose Up\n", name)
		require.Contains(t, string(data), "-- +goose Down\n", name)
	}
}

// publicObjects lists the tables, sequences and functions of the public schema.
func publicObjects(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), `
		SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')
		UNION ALL
		SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public'
		ORDER BY 1`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func TestDownRemovesEverythingUpCreates(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewEmptyDB(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))

	require.NoError(t, store.Migrate(ctx, url, "up", io.Discard))
	up := strings.Join(publicObjects(t, conn), " ")
	for _, name := range []string{"tasks", "subtasks", "llm_calls", "task_events", "audit_logs", "api_keys", "blobs", "audit_logs_append_only", "tool_calls", "messages"} {
		require.Contains(t, up, name)
	}

	names, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	for range names {
		require.NoError(t, store.Migrate(ctx, url, "down", io.Discard))
	}
	require.Equal(t, []string{"goose_db_version", "goose_db_version_id_seq"}, publicObjects(t, conn))
}
