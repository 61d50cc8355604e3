package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Expired counts the rows one DeleteExpired call removed, per table.
type Expired struct {
	TaskEvents, LLMCalls, Messages, ToolCalls, Blobs int64
}

// Total is the number of rows removed.
func (e Expired) Total() int64 {
	return e.TaskEvents + e.LLMCalls + e.Messages + e.ToolCalls + e.Blobs
}

// add accumulates o into e.
func (e *Expired) add(o Expired) {
	e.TaskEvents += o.TaskEvents
	e.LLMCalls += o.LLMCalls
	e.Messages += o.Messages
	e.ToolCalls += o.ToolCalls
	e.Blobs += o.Blobs
}

// full reports whether some table gave limit rows, and so may hold more.
func (e Expired) full(limit int) bool {
	return max(e.TaskEvents, e.LLMCalls, e.Messages, e.ToolCalls, e.Blobs) >= int64(limit)
}

// expiredTasks selects the tasks that finished in [$1, $2): their detail rows
// may go. Tasks rows themselves stay, and so does audit_logs.
const expiredTasks = `SELECT id FROM tasks WHERE finished_at >= $1 AND finished_at < $2`

// The detail tables, each deleted at most $3 rows at a time.
var expiredDeletes = []struct {
	table string
	sql   string
	count func(*Expired) *int64
}{
	{"task_events", `DELETE FROM task_events WHERE id IN (
		SELECT id FROM task_events WHERE task_id IN (` + expiredTasks + `) LIMIT $3)`,
		func(e *Expired) *int64 { return &e.TaskEvents }},
	{"llm_calls", `DELETE FROM llm_calls WHERE id IN (
		SELECT id FROM llm_calls WHERE task_id IN (` + expiredTasks + `) LIMIT $3)`,
		func(e *Expired) *int64 { return &e.LLMCalls }},
	{"messages", `DELETE FROM messages WHERE (task_id, conversation, seq) IN (
		SELECT task_id, conversation, seq FROM messages WHERE task_id IN (` + expiredTasks + `) LIMIT $3)`,
		func(e *Expired) *int64 { return &e.Messages }},
	{"tool_calls", `DELETE FROM tool_calls WHERE id IN (
		SELECT id FROM tool_calls WHERE task_id IN (` + expiredTasks + `) LIMIT $3)`,
		func(e *Expired) *int64 { return &e.ToolCalls }},
}

// deleteExpiredBlobs removes at most $2 blobs first stored before $1 that no
// task may still need: the task that last stored the blob finished before $1
// (or is gone), and no finished task mentions its ref in its output or in a
// subtask's output (a YAML workflow's output shows a large step output as
// {"$ref": "<ref>"}). A task can only refer to a blob it stored, so only the
// tasks whose run overlapped [first store, end of the last storer] are read.
const deleteExpiredBlobs = `
DELETE FROM blobs WHERE ref IN (
	SELECT b.ref FROM blobs b LEFT JOIN tasks o ON o.id = b.task_id
	WHERE b.created_at < $1 AND (o.id IS NULL OR o.finished_at < $1)
	AND NOT EXISTS (
		SELECT 1 FROM tasks t
		WHERE t.finished_at IS NOT NULL
		AND tstzrange(t.created_at, t.finished_at, '[]') && tstzrange(b.created_at, COALESCE(o.finished_at, 'infinity'), '[]')
		AND (strpos(t.output::text, b.ref) > 0
			OR EXISTS (SELECT 1 FROM subtasks s WHERE s.task_id = t.id AND strpos(s.output::text, b.ref) > 0)))
	ORDER BY b.created_at
	LIMIT $2)`

// retentionLockID is the transaction-level advisory lock a retention batch
// holds, so that the cleaners of several workers take turns.
const retentionLockID int64 = 0x74726f7570650002 // "troupe" + 2

// DeleteExpired removes, in one bounded batch, the task_events, llm_calls,
// messages and tool_calls of tasks that finished in [from, before), at most
// limit rows per table, and at most limit blobs first stored before before
// that no task still needs. A table whose count equals limit may hold more:
// call again until none does. Tasks, subtasks and audit_logs are never
// deleted. The batch is one transaction under an advisory lock: while another
// batch runs, it deletes nothing and returns an error wrapping ErrConflict.
func (s *Store) DeleteExpired(ctx context.Context, from, before time.Time, limit int) (Expired, error) {
	if limit <= 0 {
		return Expired{}, fmt.Errorf("%w: retention batch size %d", ErrInvalid, limit)
	}
	var e Expired
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, retentionLockID).Scan(&locked); err != nil {
			return fmt.Errorf("lock retention: %w", err)
		}
		if !locked {
			return fmt.Errorf("%w: another retention batch is running", ErrConflict)
		}
		for _, d := range expiredDeletes {
			tag, err := tx.Exec(ctx, d.sql, from, before, limit)
			if err != nil {
				return fmt.Errorf("delete expired %s: %w", d.table, err)
			}
			*d.count(&e) = tag.RowsAffected()
		}
		tag, err := tx.Exec(ctx, deleteExpiredBlobs, before, limit)
		if err != nil {
			return fmt.Errorf("delete expired blobs: %w", err)
		}
		e.Blobs = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return Expired{}, err
	}
	return e, nil
}
