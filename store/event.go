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

const lockTaskForEvent = `SELECT tenant_id FROM tasks WHERE id = $1 FOR NO KEY UPDATE`

// insertEventSQL inserts an event and announces it on EventChannel in the same transaction
// (listeners hear of it once it commits); a duplicate inserts and announces nothing.
const insertEventSQL = `
WITH inserted AS (
	INSERT INTO task_events (task_id, kind, payload, dedupe_key, at, run_id) VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''))
	ON CONFLICT (task_id, dedupe_key) DO NOTHING
	RETURNING id
)
SELECT pg_notify('` + EventChannel + `', $1::text || ' ' || id || ' ' || $7) FROM inserted`

const listEvents = `
SELECT id, task_id, kind, payload, at FROM task_events
WHERE task_id = $1 AND id > $2 ORDER BY id LIMIT $3`

// AppendEvent appends an event of kind to the task's log, once per (task, dedupeKey): a
// retried call with the same dedupeKey changes nothing. payload is marshalled to JSON.
func (s *Store) AppendEvent(ctx context.Context, taskID uuid.UUID, kind, dedupeKey string, payload any) error {
	return s.AppendRunEvent(ctx, taskID, "", kind, dedupeKey, payload)
}

// AppendRunEvent is AppendEvent for an event of the task's workflow run runID (none when
// empty): the event is kept once per run and dedupeKey, and the run becomes the task's current
// run (see StartTask) if it is not yet, as a run started by a reset past its start does.
func (s *Store) AppendRunEvent(ctx context.Context, taskID uuid.UUID, runID, kind, dedupeKey string, payload any) error {
	if kind == "" || dedupeKey == "" {
		return fmt.Errorf("%w: an event needs a kind and a dedupe key", ErrInvalid)
	}
	now := s.now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := startRun(ctx, tx, taskID, runID, now); err != nil {
			return err
		}
		return insertRunEvent(ctx, tx, taskID, runID, kind, dedupeKey, payload, now)
	})
}

// insertEvent appends an event once per (task, dedupeKey), announced on EventChannel (see
// EventNotice) when the transaction commits. It first locks the task row until
// the transaction ends, so that a task's events take their ids in commit order and a reader
// following ids never skips one committed late.
func insertEvent(ctx context.Context, tx pgx.Tx, taskID uuid.UUID, kind, dedupeKey string, payload any, at time.Time) error {
	return insertRunEvent(ctx, tx, taskID, "", kind, dedupeKey, payload, at)
}

// insertRunEvent is insertEvent for an event of the workflow run runID: its dedupe key names
// the run ("<dedupeKey>@<runID>"), so that each run of a task records its own.
func insertRunEvent(ctx context.Context, tx pgx.Tx, taskID uuid.UUID, runID, kind, dedupeKey string, payload any, at time.Time) error {
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
	var tenantID string
	err := tx.QueryRow(ctx, lockTaskForEvent, taskID).Scan(&tenantID)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("task %s: %w", taskID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("lock task for event: %w", err)
	}
	if _, err := tx.Exec(ctx, insertEventSQL, taskID, kind, raw, dedupeKey, at, runID, tenantID); err != nil {
		return fmt.Errorf("insert %s event: %w", kind, err)
	}
	return nil
}

// ListEvents returns up to limit (default 100, at most 1000) events of the tenant's task with
// ids above afterID, oldest first. ErrNotFound if the task is not the tenant's.
func (s *Store) ListEvents(ctx context.Context, tenantID string, taskID uuid.UUID, afterID int64, limit int) ([]Event, error) {
	return listOfTask(ctx, s, tenantID, taskID, "events", listEvents, scanEvent, afterID, pageLimit(limit, 100, 1000))
}
