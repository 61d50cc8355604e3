package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/troupe-dev/troupe/migrations"
)

// SchemaVersions are the version of a database's schema and the newest migration this binary
// embeds. Migrations are additive, so a binary works against a schema as new as its own or
// newer (during a rolling upgrade, a newer binary migrated it), but not against an older one.
type SchemaVersions struct {
	// Database is the last migration applied to the database, 0 if none.
	Database int64
	// Binary is the newest migration embedded in this binary.
	Binary int64
}

// SchemaTooOldError is CheckSchema's error for a database whose schema is older than this
// binary's migrations.
type SchemaTooOldError struct {
	SchemaVersions
}

// Error names both versions and the fix.
func (e *SchemaTooOldError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, older than this troupe binary's version %d: "+
		"run `troupe migrate up` with the DATABASE_URL of the role that owns the schema, then start again",
		e.Database, e.Binary)
}

// CheckSchema reads the schema version of the database behind pool and compares it with the
// newest embedded migration. A schema older than the binary's gives a *SchemaTooOldError; a
// newer one is no error (compare the returned versions to tell).
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) (SchemaVersions, error) {
	var v SchemaVersions
	var err error
	if v.Binary, err = latestMigration(); err != nil {
		return v, err
	}
	err = pool.QueryRow(ctx, "SELECT COALESCE(max(version_id), 0) FROM "+goose.DefaultTablename).Scan(&v.Database)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table: never migrated
		v.Database = 0
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		return v, fmt.Errorf("read the schema version: %w (the grant to %s comes with migration 5: "+
			"run `troupe migrate up` with the DATABASE_URL of the role that owns the schema)", err, migrations.AppRole)
	case err != nil:
		return v, fmt.Errorf("read the schema version: %w", err)
	}
	if v.Database < v.Binary {
		return v, &SchemaTooOldError{v}
	}
	return v, nil
}

// latestMigration returns the version of the newest embedded migration.
func latestMigration() (int64, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var latest int64
	for _, name := range names {
		version, err := goose.NumericComponent(name)
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", name, err)
		}
		latest = max(latest, version)
	}
	return latest, nil
}
