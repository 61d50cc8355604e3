package store_test

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// checkSchema runs CheckSchema on the database at dbURL.
func checkSchema(t *testing.T, dbURL string) (store.SchemaVersions, error) {
	t.Helper()
	return store.CheckSchema(t.Context(), connect(t, dbURL).pool)
}

func TestCheckSchema(t *testing.T) {
	t.Parallel()
	t.Run("current", func(t *testing.T) {
		t.Parallel()
		v, err := checkSchema(t, storetest.NewDB(t))
		require.NoError(t, err)
		require.Positive(t, v.Binary)
		require.Equal(t, v.Binary, v.Database)
	})
	t.Run("current as the application role", func(t *testing.T) {
		t.Parallel()
		v, err := checkSchema(t, storetest.AppURL(t, storetest.NewDB(t)))
		require.NoError(t, err)
		require.Equal(t, v.Binary, v.Database)
	})
	t.Run("newer: a newer binary migrated it", func(t *testing.T) {
		b := setup(t)
		_, err := b.pool.Exec(b.ctx, `INSERT INTO goose_db_version (version_id, is_applied)
			SELECT max(version_id) + 1, true FROM goose_db_version`)
		require.NoError(t, err)
		v, err := store.CheckSchema(b.ctx, b.pool)
		require.NoError(t, err)
		require.Equal(t, v.Binary+1, v.Database)
	})
	t.Run("one migration behind", func(t *testing.T) {
		t.Parallel()
		dbURL := storetest.NewDB(t)
		require.NoError(t, store.Migrate(t.Context(), dbURL, "down", io.Discard))
		_, err := checkSchema(t, dbURL)
		tooOld, ok := errors.AsType[*store.SchemaTooOldError](err)
		require.True(t, ok, "got %v", err)
		require.Equal(t, tooOld.Binary-1, tooOld.Database)
		require.ErrorContains(t, err, "troupe migrate up")
	})
	t.Run("before the application role's grants, as that role", func(t *testing.T) {
		t.Parallel()
		dbURL := storetest.NewDB(t)
		v, err := checkSchema(t, dbURL)
		require.NoError(t, err)
		for range v.Database - 4 {
			require.NoError(t, store.Migrate(t.Context(), dbURL, "down", io.Discard))
		}
		_, err = checkSchema(t, storetest.AppURL(t, dbURL))
		require.ErrorContains(t, err, "permission denied")
		require.ErrorContains(t, err, "troupe migrate up")
	})
	t.Run("never migrated", func(t *testing.T) {
		t.Parallel()
		_, err := checkSchema(t, storetest.NewEmptyDB(t))
		tooOld, ok := errors.AsType[*store.SchemaTooOldError](err)
		require.True(t, ok, "got %v", err)
		require.Zero(t, tooOld.Database)
		require.ErrorContains(t, err, "the database schema is at version 0, older than this troupe binary's version")
	})
}
