package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// troupe serve and troupe worker, as processes of their own, refuse a database
// one migration behind the binary: they exit with status 1 and say which
// versions and what to run, before reaching Temporal (none runs here).
func TestServeAndWorkerRefuseAnOlderSchema(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	pool, err := store.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	v, err := store.CheckSchema(t.Context(), pool)
	pool.Close()
	require.NoError(t, err)
	require.NoError(t, store.Migrate(t.Context(), dbURL, "down", io.Discard))
	want := fmt.Sprintf("troupe: the database schema is at version %d, older than this troupe binary's version %d: run `troupe migrate up`",
		v.Binary-1, v.Binary)

	for _, command := range []string{"serve", "worker"} {
		t.Run(command, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0])
			cmd.Env = append(os.Environ(), cliEnv+"="+command, "DATABASE_URL="+dbURL,
				"TEMPORAL_ADDRESS="+freeAddr(t), "TROUPE_HASH_KEY=k",
				"TROUPE_ADDR="+freeAddr(t), "TROUPE_METRICS_ADDR="+freeAddr(t))
			out, err := cmd.CombinedOutput()
			exit, ok := errors.AsType[*exec.ExitError](err)
			require.True(t, ok, "troupe %s exits with an error; got %v:\n%s", command, err, out)
			require.Equal(t, 1, exit.ExitCode(), string(out))
			require.Contains(t, string(out), want)
		})
	}
}

// A schema newer than the binary (a newer version migrated it during a
// rolling upgrade) is accepted with a warning: the worker goes on to Temporal
// (none runs here, which ends it).
func TestWorkerWarnsOfANewerSchema(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	pool, err := store.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), `INSERT INTO goose_db_version (version_id, is_applied)
		SELECT max(version_id) + 1, true FROM goose_db_version`)
	pool.Close()
	require.NoError(t, err)

	temporal := freeAddr(t)
	env := map[string]string{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": temporal, "TROUPE_METRICS_ADDR": freeAddr(t)}
	var stderr bytes.Buffer
	err = Run(t.Context(), []string{"worker"}, func(k string) string { return env[k] }, io.Discard, &stderr)
	require.ErrorContains(t, err, "connect to Temporal at "+temporal)
	require.Contains(t, stderr.String(), "the database schema is newer than this troupe binary")
}
