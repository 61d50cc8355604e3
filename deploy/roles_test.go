package deploy_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/migrations"
	"github.com/troupe-dev/troupe/store"
)

// The tests below need a cluster of their own: they create roles of fixed names, which
// belong to the whole cluster, or need them missing.

// startPostgres starts a private cluster, stopped when the test ends, or skips the test
// when the machine has no PostgreSQL binaries.
func startPostgres(t *testing.T) *devserver.Postgres {
	t.Helper()
	if _, err := devserver.FindPostgresBin(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	dir := t.TempDir()
	// The server may run as another user (when the tests run as root): let it reach dir.
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	pg, err := devserver.StartPostgres(t.Context(), devserver.PostgresConfig{Dir: filepath.Join(dir, "postgres"), Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop() })
	return pg
}

// at returns rawURL with its server replaced by pg's and, when user is not empty, its user
// (with no password: the private cluster trusts local connections) by user.
func at(t *testing.T, pg *devserver.Postgres, rawURL, user string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	server, err := url.Parse(pg.URL())
	require.NoError(t, err)
	u.Host = server.Host
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

// execAll runs statements, one at a time, as the superuser on database db of pg.
func execAll(t *testing.T, pg *devserver.Postgres, db string, statements ...string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), at(t, pg, "postgres:///"+db+"?sslmode=disable", "postgres"))
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	for _, sql := range statements {
		_, err := conn.Exec(t.Context(), sql)
		require.NoError(t, err, sql)
	}
}

// requirePermissionDenied checks that err is Postgres's insufficient_privilege.
func requirePermissionDenied(t *testing.T, err error, what string) {
	t.Helper()
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	require.True(t, ok, "%s: want a permission error, got %v", what, err)
	require.Equal(t, "42501", pgErr.Code, "%s: %s", what, pgErr.Message)
}

// The compose stack's roles, for real: the init script the postgres image runs on a new
// volume, the migrate service's URL (the owner, no superuser) and the URL of api and worker
// (a member of the application role, which cannot change the audit log).
func TestComposeRoles(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(data, &c))
	migrateURL := c.Services["migrate"].Environment["DATABASE_URL"]
	appURL := c.Services["api"].Environment["DATABASE_URL"]
	require.Equal(t, appURL, c.Services["worker"].Environment["DATABASE_URL"])
	require.NotEqual(t, migrateURL, appURL)

	pg := startPostgres(t)
	bin, err := devserver.FindPostgresBin()
	require.NoError(t, err)
	execAll(t, pg, "postgres", "DROP DATABASE troupe") // the private cluster comes with one
	// As the postgres image runs the scripts of docker-entrypoint-initdb.d.
	out, err := exec.CommandContext(t.Context(), filepath.Join(bin, "psql"), "-v", "ON_ERROR_STOP=1", "--no-psqlrc",
		"-f", "postgres/init-roles.sql", at(t, pg, "postgres:///postgres?sslmode=disable", "postgres")).CombinedOutput()
	require.NoError(t, err, string(out))

	ctx := t.Context()
	require.NoError(t, store.Migrate(ctx, at(t, pg, migrateURL, ""), "up", io.Discard))
	pool, err := store.Connect(ctx, at(t, pg, appURL, ""))
	require.NoError(t, err)
	defer pool.Close()
	var superuser, createRole bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT bool_or(rolsuper), bool_or(rolcreaterole) FROM pg_roles
		WHERE rolname IN (current_user, (SELECT tableowner FROM pg_tables WHERE tablename = 'audit_logs'))`).Scan(&superuser, &createRole))
	require.False(t, superuser, "neither the owner nor the application is a superuser")
	require.False(t, createRole, "neither the owner nor the application may create roles")

	_, err = store.CheckSchema(ctx, pool)
	require.NoError(t, err)
	s := store.New(pool)
	_, _, err = s.CreateTask(ctx, store.NewTask{TenantID: "acme", Type: "summarize"})
	require.NoError(t, err)
	require.NoError(t, s.AppendAudit(ctx, store.Audit{EventType: "task.created", TenantID: "acme"}))
	for _, sql := range []string{"UPDATE audit_logs SET actor = 'x'", "ALTER TABLE audit_logs DISABLE TRIGGER ALL"} {
		_, err = pool.Exec(ctx, sql)
		requirePermissionDenied(t, err, sql)
	}
}

// On a cluster without the application role: databases migrated at the same time by
// superusers all create it or find it created, and an owner that may not create roles (as
// on some managed Postgres) is told what to do, and migrates once an administrator did it.
func TestApplicationRoleCreation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pg := startPostgres(t)
	execAll(t, pg, "postgres", "CREATE ROLE owner LOGIN NOSUPERUSER NOCREATEROLE", "CREATE DATABASE owned OWNER owner")
	ownerURL := at(t, pg, "postgres:///owned?sslmode=disable", "owner")
	err := store.Migrate(ctx, ownerURL, "up", io.Discard)
	require.ErrorContains(t, err, "role troupe_app does not exist, and owner may not create it: as an administrator, run CREATE ROLE troupe_app NOLOGIN, then troupe migrate up again")
	pool, err := store.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer pool.Close()
	_, err = store.CheckSchema(ctx, pool)
	tooOld, ok := errors.AsType[*store.SchemaTooOldError](err)
	require.True(t, ok, "the failed migration left the schema behind: %v", err)
	require.Equal(t, int64(4), tooOld.Database)

	names := []string{"first", "second", "third", "fourth"}
	for _, name := range names {
		execAll(t, pg, "postgres", "CREATE DATABASE "+name)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		dbURL := at(t, pg, "postgres:///"+name+"?sslmode=disable", "postgres")
		wg.Go(func() { errs[i] = store.Migrate(ctx, dbURL, "up", io.Discard) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	// The role exists now: the owner grants it what it needs without creating it.
	require.NoError(t, store.Migrate(ctx, ownerURL, "up", io.Discard))
	_, err = store.CheckSchema(ctx, pool)
	require.NoError(t, err)
	var canInsert, canUpdate bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT has_table_privilege($1, 'audit_logs', 'INSERT'),
		has_table_privilege($1, 'audit_logs', 'UPDATE')`, migrations.AppRole).Scan(&canInsert, &canUpdate))
	require.True(t, canInsert)
	require.False(t, canUpdate)
}
