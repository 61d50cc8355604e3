package devserver

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestPostgresStartStopRestart(t *testing.T) {
	t.Parallel()
	dir := postgresTestDir(t)
	ctx := t.Context()

	pg := startTestPostgres(t, dir)
	require.True(t, strings.HasSuffix(pg.URL(), "/troupe?sslmode=disable"), pg.URL())
	conn, err := pgx.Connect(ctx, pg.URL())
	require.NoError(t, err)
	var one int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	pid := pg.postmasterPID()
	require.Positive(t, pid)
	require.NoError(t, pg.Stop())
	require.False(t, processRunning(pid), "postmaster %d still running after Stop", pid)
	require.NoFileExists(t, filepath.Join(pg.dataDir, "postmaster.pid"))
	require.NoError(t, pg.Stop(), "second Stop")

	again := startTestPostgres(t, dir)
	conn, err = pgx.Connect(ctx, again.URL())
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(ctx)) }()
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, 42, v, "data kept across restart")
}

func TestPostgresStopsLeftoverServer(t *testing.T) {
	t.Parallel()
	dir := postgresTestDir(t)

	// The first server is never stopped through its handle, as after a crash.
	leftover := startTestPostgres(t, dir)
	leftoverPID := leftover.postmasterPID()
	require.Positive(t, leftoverPID)

	pg := startTestPostgres(t, dir)
	require.False(t, processRunning(leftoverPID), "leftover postmaster still running")
	conn, err := pgx.Connect(t.Context(), pg.URL())
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))
}

func TestPostgresPortInUse(t *testing.T) {
	t.Parallel()
	if _, err := FindPostgresBin(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { require.NoError(t, taken.Close()) }()
	dir := postgresTestDir(t)

	_, err = StartPostgres(t.Context(), PostgresConfig{Dir: dir, Port: taken.Addr().(*net.TCPAddr).Port, Logger: testLogger(t)})
	require.ErrorContains(t, err, "start postgres")
	require.ErrorContains(t, err, "could not bind", "the error shows the server log")
	require.NoFileExists(t, filepath.Join(dir, "data", "postmaster.pid"))
}

func TestPostgresUnreachableDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only a root process runs postgres as another user")
	}
	if _, err := FindPostgresBin(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	private := filepath.Join(t.TempDir(), "private")
	require.NoError(t, os.Mkdir(private, 0o700))

	_, err := StartPostgres(t.Context(), PostgresConfig{Dir: filepath.Join(private, "postgres"), Logger: testLogger(t)})
	require.ErrorContains(t, err, "cannot enter "+private)
}

func TestFindPostgresBin(t *testing.T) {
	t.Parallel()
	bin, err := FindPostgresBin()
	if err != nil {
		require.ErrorIs(t, err, ErrNoPostgres)
		require.ErrorContains(t, err, "DATABASE_URL")
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	require.True(t, hasPostgresBinaries(bin), bin)
}

func TestVersionOrder(t *testing.T) {
	t.Parallel()
	dirs := []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/beta/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}
	slices.SortFunc(dirs, byVersionDesc)
	require.Equal(t, []string{"/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/beta/bin"}, dirs)
}

// postgresTestDir returns a cluster dir in a fresh temp dir that the
// unprivileged server user can reach when the tests run as root.
func postgresTestDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's parent is private to the test's user.
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	return filepath.Join(dir, "postgres")
}

// startTestPostgres starts a cluster in dir, or skips the test when the
// machine has no PostgreSQL binaries.
func startTestPostgres(t *testing.T, dir string) *Postgres {
	t.Helper()
	if _, err := FindPostgresBin(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	pg, err := StartPostgres(t.Context(), PostgresConfig{Dir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop() })
	return pg
}
