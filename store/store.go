// Package store is the Postgres system of record for the business view of troupe: tasks,
// subtasks, LLM calls, task events, the append-only audit log, API keys and large blobs.
//
// It is a projection written by Temporal activities, which run at least once, so every write
// method is idempotent: a retried call never duplicates a row or counts tokens and cost twice.
// store is the only package that writes SQL.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrNotFound is returned when a row does not exist or belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write contradicts the current state of a row.
	ErrConflict = errors.New("conflict")
	// ErrInvalid is returned (wrapped, with details) for arguments the store cannot accept.
	ErrInvalid = errors.New("invalid argument")
	// ErrInvalidCursor is returned (wrapped) for a pagination cursor the store did not issue.
	// It also matches ErrInvalid.
	ErrInvalidCursor = fmt.Errorf("%w: invalid cursor", ErrInvalid)
	// ErrEndedBeforeStart is returned (wrapped) by StartTask for a task that ended before any
	// workflow run started it (canceled while its start was in doubt): the run must not
	// open it again. It also matches ErrConflict.
	ErrEndedBeforeStart = fmt.Errorf("%w: the task ended before its workflow started", ErrConflict)
)

// Store reads and writes the troupe tables. Its methods are safe for concurrent use.
type Store struct {
	// Now returns the current time; written timestamps come from it (default time.Now).
	Now  func() time.Time
	pool *pgxpool.Pool
}

// New returns a Store using pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{Now: time.Now, pool: pool}
}

// Connect opens a pgx pool on databaseURL and checks that the database answers. Settings given
// in the URL (pool_max_conns, connect_timeout, application_name, ...) win over the defaults.
func Connect(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "troupe"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// now is the time written to rows, at the microsecond precision Postgres keeps.
func (s *Store) now() time.Time {
	return s.Now().UTC().Truncate(time.Microsecond)
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// pageLimit returns n, or def when n is not positive, capped at maxLimit.
func pageLimit(n, def, maxLimit int) int {
	if n <= 0 {
		return def
	}
	return min(n, maxLimit)
}

// nullJSON returns nil (SQL NULL) for an empty JSON value.
func nullJSON(raw []byte) []byte {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// isForeignKeyViolation reports whether err is a Postgres foreign key violation.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// collect scans every row of rows with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}

// listOfTask runs query, whose $1 is a task id (and $2... args), for a task of the tenant and scans its rows
// (what names them in errors). ErrNotFound if the task is not the tenant's.
func listOfTask[T any](ctx context.Context, s *Store, tenantID string, taskID uuid.UUID, what, query string, scan func(pgx.Row) (T, error), args ...any) ([]T, error) {
	if err := tenantTaskExists(ctx, s.pool, tenantID, taskID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, query, append([]any{taskID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	items, err := collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return items, nil
}

// mustExist runs query, a SELECT EXISTS, and returns ErrNotFound (naming what) when it is false.
func mustExist(ctx context.Context, q querier, what, query string, args ...any) error {
	var exists bool
	if err := q.QueryRow(ctx, query, args...).Scan(&exists); err != nil {
		return fmt.Errorf("check %s: %w", what, err)
	}
	if !exists {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
