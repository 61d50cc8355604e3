package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Event is one entry of a task's event log. IDs come from one global sequence and grow in the
// order a task's events are committed, so they serve as SSE event ids.
type Event struct {
	ID      int64
	TaskID  uuid.UUID
	Kind    string
	Payload json.RawMessage
	At      time.Time
}

// insertEventSQL inserts an event and announces it on EventChannel in the same transaction
// (listeners hear of it once it commits); a duplicate inserts and announces nothing. It first
// locks the task row until the transaction ends, so that a task's events take their ids in
// commit order and a reader following ids never skips one committed late: the insert takes its
// row from the locked one, so the lock comes first. It returns a row when the task exists.
const insertEventSQL = `
WITH task AS (
	SELECT tenant_id FROM tasks WHERE id = $1 FOR NO KEY UPDATE
), inserted AS (
	INSERT INTO task_events (task_id, kind, payload, dedupe_key, at, run_id)
	SELECT $1, $2, $3, $4, $5, NULLIF($6, '') FROM task
	ON CONFLICT (task_id, dedupe_key) DO NOTHING
	RETURNING id
)
SELECT CASE WHEN inserted.id IS NOT NULL THEN pg_notify('` + EventChannel + `', $1::text || ' ' || inserted.id || ' ' || task.tenant_id) END
FROM task LEFT JOIN inserted ON true`

const listEvents = `
SELECT id, task_id, kind, payload, at FROM task_events
WHERE task_id = $1 AND id > $2 ORDER BY id LIMIT $3`

// AppendEvent appends an event of kind to the task's log, once per (task, dedupeKey): a
// retried call with the same dedupeKey changes nothing. payload is marshalled to JSON.
func (s *Store) AppendEvent(ctx context.Context, taskID uuid.UUID, kind, dedupeKey string, payload any) error {
	return s.AppendRunEvent(ctx, taskID, "", kind, dedupeKey, payload)
}

// AppendTransientEvent is AppendEvent for events a crash of Postgres' host may lose, such
// as the pieces of a model's answer while it is written, whose whole text is kept with its
// call: it commits without waiting for the disk to flush its WAL (synchronous_commit off),
// which takes the flush off the way of a streamed token. The WAL writer flushes it within
// 3 × wal_writer_delay (600 ms by default); a crash of troupe's own processes loses nothing.
func (s *Store) AppendTransientEvent(ctx context.Context, taskID uuid.UUID, kind, dedupeKey string, payload any) error {
	if kind == "" || dedupeKey == "" {
		return fmt.Errorf("%w: an event needs a kind and a dedupe key", ErrInvalid)
	}
	now := s.now()
	// One round trip begins the transaction and sets it to commit so.
	opts := pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"}
	return pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		return insertEvent(ctx, tx, taskID, kind, dedupeKey, payload, now)
	})
}

// AppendRunEvent is AppendEvent for an event of the task's workflow run runID (none when
// empty): the event is kept once per run and dedupeKey, and the run becomes the task's current
// run (see StartTask) if it is not yet, as a run started by a reset past its start does.
func (s *Store) AppendRunEvent(ctx context.Context, taskID uuid.UUID, runID, kind, dedupeKey string, payload any) error {
	if kind == "" || dedupeKey == "" {
		return fmt.Errorf("%w: an event needs a kind and a dedupe key", ErrInvalid)
	}
	now := s.now()
	if runID == "" {
		// One statement, its own transaction: the most frequent write of
		// all (a model's answer as it is written) takes one round trip.
		return insertRunEvent(ctx, s.pool, taskID, runID, kind, dedupeKey, payload, now)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := startRun(ctx, tx, taskID, runID, now); err != nil {
			return err
		}
		return insertRunEvent(ctx, tx, taskID, runID, kind, dedupeKey, payload, now)
	})
}

// insertEvent appends an event once per (task, dedupeKey), announced on EventChannel (see
// EventNotice) when the transaction commits (see insertEventSQL).
func insertEvent(ctx context.Context, q querier, taskID uuid.UUID, kind, dedupeKey string, payload any, at time.Time) error {
	return insertRunEvent(ctx, q, taskID, "", kind, dedupeKey, payload, at)
}

// insertRunEvent is insertEvent for an event of the workflow run runID: its dedupe key names
// the run ("<dedupeKey>@<runID>"), so that each run of a task records its own.
func insertRunEvent(ctx context.Context, q querier, taskID uuid.UUID, runID, kind, dedupeKey string, payload any, at time.Time) error {
	if runID != "" {
		dedupeKey += "@" + runID
	}
	var raw []byte
	if payload != nil {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return fmt.Errorf("marshal %s event payload: %w", kind, err)
		}
		raw = cleanJSON(raw) // errors and outputs in payloads may hold \u0000
	}
	err := q.QueryRow(ctx, insertEventSQL, taskID, kind, raw, dedupeKey, at, runID).Scan(nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("task %s: %w", taskID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("insert %s event: %w", kind, err)
	}
	return nil
}

// ListEvents returns up to limit (default 100, at most 1000) events of the tenant's task with
// ids above afterID, oldest first. ErrNotFound if the task is not the tenant's.
func (s *Store) ListEvents(ctx context.Context, tenantID string, taskID uuid.UUID, afterID int64, limit int) ([]Event, error) {
	return listOfTask(ctx, s, tenantID, taskID, "events", listEvents, scanEvent, afterID, pageLimit(limit, 100, 1000))
}
