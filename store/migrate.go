package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/troupe-dev/troupe/migrations"
)

// Migrate applies ("up"), rolls back one ("down"), or reports ("status", written to w) schema
// migrations under a Postgres advisory lock, so concurrent callers apply each migration once.
// "up" and "down" also write what they did to w, which may be nil.
func Migrate(ctx context.Context, databaseURL string, command string, w io.Writer) error {
	if w == nil {
		w = io.Discard
	}
	if command != "up" && command != "down" && command != "status" {
		return fmt.Errorf("%w: unknown migrate command %q (want up, down or status)", ErrInvalid, command)
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	// Wait up to 5 minutes for another migrator, checking every second.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	defer provider.Close()

	switch command {
	case "up":
		return migrateUp(ctx, provider, w)
	case "down":
		return migrateDown(ctx, provider, w)
	default:
		return migrateStatus(ctx, provider, w)
	}
}

func migrateUp(ctx context.Context, p *goose.Provider, w io.Writer) error {
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	for _, r := range results {
		fmt.Fprintln(w, r)
	}
	version, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	fmt.Fprintf(w, "schema at version %d\n", version)
	return nil
}

func migrateDown(ctx context.Context, p *goose.Provider, w io.Writer) error {
	result, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return errors.New("migrate down: no migration to roll back")
	}
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	fmt.Fprintln(w, result)
	return nil
}

func migrateStatus(ctx context.Context, p *goose.Provider, w io.Writer) error {
	statuses, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, st := range statuses {
		appliedAt := "-"
		if !st.AppliedAt.IsZero() {
			appliedAt = st.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", st.Source.Version, st.State, appliedAt, path.Base(st.Source.Path))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write migration status: %w", err)
	}
	return nil
}
