// Package storetest gives each test a Postgres database of its own, for tests of the store and
// of the packages built on it.
//
// It connects to TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), which must be a postgres:// URL
// of a role allowed to create databases (and roles, for RoleURL and AppURL), whose login roles
// the server lets in with a password or trust. The schema is migrated once into a template database
// named after a hash of the migrations, built under an advisory lock so that test processes
// running side by side agree; each test gets a copy, dropped when it ends. Tests using it can
// call t.Parallel().
package storetest

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/migrations"
	"github.com/troupe-dev/troupe/store"
)

// DefaultURL is the server used when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// templateLockID is the advisory lock held while a template database is built.
const templateLockID int64 = 0x74726f7570650001 // "troupe" + 1

// URL returns the URL of the test server: TEST_DATABASE_URL, or DefaultURL.
func URL() string {
	return cmp.Or(os.Getenv("TEST_DATABASE_URL"), DefaultURL)
}

// NewDB returns the URL of a new database migrated to the current schema, dropped when the
// test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	template, err := ensureTemplate(t.Context(), URL())
	require.NoError(t, err, "prepare the template test database (TEST_DATABASE_URL)")
	return newDatabase(t, template)
}

// NewEmptyDB returns the URL of a new empty database (no schema), dropped when the test ends.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "template0")
}

// NewStore returns a Store on a new database from NewDB; its pool is closed when the test ends.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	pool, err := store.Connect(t.Context(), NewDB(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return store.New(pool)
}

// AppURL returns dbURL, which must be migrated, with its user replaced by a new LOGIN role
// that is a member of migrations.AppRole, the way troupe serve and worker connect in
// production. The role is dropped when the test ends.
func AppURL(t testing.TB, dbURL string) string {
	t.Helper()
	return RoleURL(t, dbURL, "IN ROLE "+ident(migrations.AppRole))
}

// RoleURL returns dbURL with its user replaced by a new LOGIN role created with options
// (CREATE ROLE syntax, e.g. "NOCREATEROLE"). When the test ends, what the role owns in that
// database and the privileges it was granted there are dropped, then the role.
func RoleURL(t testing.TB, dbURL, options string) string {
	t.Helper()
	name := "troupe_test_role_" + strings.ToLower(rand.Text())
	password := rand.Text() // base32: nothing to quote
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	adminURL, err := databaseURL(URL(), strings.TrimPrefix(u.Path, "/"))
	require.NoError(t, err)
	u.User = url.UserPassword(name, password)
	err = adminExec(URL(), "CREATE ROLE "+ident(name)+" LOGIN PASSWORD '"+password+"' "+options)
	require.NoError(t, err, "create a test role")
	t.Cleanup(func() {
		if err := adminExec(adminURL, "DROP OWNED BY "+ident(name), "DROP ROLE "+ident(name)); err != nil {
			t.Errorf("drop test role %s: %v", name, err)
		}
	})
	return u.String()
}

// newDatabase creates a database copied from template and returns its URL.
func newDatabase(t testing.TB, template string) string {
	t.Helper()
	ctx := t.Context()
	name := "troupe_test_" + strings.ToLower(rand.Text())
	dbURL, err := databaseURL(URL(), name)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, URL())
	require.NoError(t, err, "connect to the test database server (TEST_DATABASE_URL)")
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template))
	require.NoError(t, err, "create test database")
	t.Cleanup(func() {
		if err := adminExec(URL(), "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return dbURL
}

// adminExec runs statements, in order, on the database at adminURL (a URL of the test server's
// role), outside of any test's context (which has ended when cleanups run).
func adminExec(adminURL string, statements ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, sql := range statements {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// ensureTemplate returns the name of the template database of the current migrations,
// creating and migrating it first if needed. The advisory lock taken on the server's admin
// database makes concurrent callers wait for the one building it; closing the session
// releases it.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	hash, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "troupe_test_template_" + hash
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}

	// A database is marked as a template once fully migrated; one left unmarked comes from a
	// run that died while building it.
	var ready bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&ready)
	switch {
	case err == nil && ready:
		return name, nil
	case err == nil:
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident(name)+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("drop unfinished template: %w", err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("look up template: %w", err)
	}

	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	templateURL, err := databaseURL(adminURL, name)
	if err != nil {
		return "", err
	}
	if err := store.Migrate(ctx, templateURL, "up", io.Discard); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("mark template: %w", err)
	}
	return name, nil
}

// migrationsHash returns a short hash of the names and contents of the migration files.
func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// databaseURL returns serverURL with its database replaced by name.
func databaseURL(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("test database url %q is not a postgres:// URL", serverURL)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func ident(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
