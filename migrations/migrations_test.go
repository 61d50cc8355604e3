package migrations_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
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

// The migrations need no superuser: an owner with no CREATEROLE, once an administrator has
// created the application role, migrates a database it may create tables in, and the
// application then connects as a member of the role, which cannot change the audit log.
func TestOwnerWithoutCreateRoleMigrates(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewEmptyDB(t)
	ownerURL := storetest.RoleURL(t, url, "NOSUPERUSER NOCREATEROLE NOCREATEDB")
	owner, err := pgx.ParseConfig(ownerURL)
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, "GRANT CREATE ON SCHEMA public TO "+pgx.Identifier{owner.User}.Sanitize())
	require.NoError(t, err)

	require.NoError(t, store.Migrate(ctx, ownerURL, "up", io.Discard))
	var tableOwner string
	require.NoError(t, admin.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_logs'").Scan(&tableOwner))
	require.Equal(t, owner.User, tableOwner)

	app, err := pgx.Connect(ctx, storetest.AppURL(t, url))
	require.NoError(t, err)
	defer app.Close(context.WithoutCancel(ctx))
	_, err = app.Exec(ctx, "INSERT INTO audit_logs (event_type, at) VALUES ('test', now())")
	require.NoError(t, err)
	_, err = app.Exec(ctx, "ALTER TABLE audit_logs DISABLE TRIGGER ALL")
	require.ErrorContains(t, err, "must be owner")
}

// Audit rows written before the chain existed are chained by its migration.
func TestAuditChainMigrationChainsEarlierRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewEmptyDB(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))
	provider, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDB(*conn.Config()), migrations.FS, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	defer provider.Close()
	_, err = provider.UpTo(ctx, 7)
	require.NoError(t, err)
	for i, tenant := range []string{"acme", "globex", "acme", "acme", "globex"} {
		_, err := conn.Exec(ctx, "INSERT INTO audit_logs (event_type, tenant_id, at, metadata) VALUES ('task_created', $1, now(), $2)", tenant, fmt.Sprintf(`{"n": %d}`, i))
		require.NoError(t, err)
	}

	require.NoError(t, store.Migrate(ctx, url, "up", io.Discard))
	pool, err := store.Connect(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	s := store.New(pool)
	require.NoError(t, s.AppendAudit(ctx, store.Audit{EventType: "task_canceled", TenantID: "acme"}))
	for tenant, n := range map[string]int64{"acme": 4, "globex": 2} {
		check, err := s.VerifyAudit(ctx, tenant)
		require.NoError(t, err)
		require.True(t, check.OK, "%s: %+v", tenant, check.FirstBroken)
		require.Equal(t, n, check.Checked)
	}
}
