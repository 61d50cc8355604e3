package cli

import (
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
