package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Wait is something a task waits for from a person: the signal that answers an approval
// step (Kind "signal"), or the decision on a tool call (Kind "tool_call").
type Wait struct {
	Kind    string
	Signal  string // an approval step's signal
	Step    string // the approval step's id
	Message string // what the approval step tells the approver
	CallID  string // a tool call waiting for approval
	Tool    string
	Since   time.Time
}

// Kinds of waits.
const (
	WaitSignal   = "signal"
	WaitToolCall = "tool_call"
)

// An approval step waits from its approval_waiting event until the approval_answered event of
// the same step key and run (dedupe keys "approval_waiting:<key>[@<run>]" and
// "approval_answered:<key>[@<run>]"); a tool call waits while its status is pending_approval.
// Only the task's current run waits: the waits of a run that a reset replaced are over (rows
// of runs that did not record their run id count as current).
const selectWaits = `
SELECT 'signal', COALESCE(w.payload->>'signal', ''), COALESCE(w.payload->>'step', ''),
	COALESCE(w.payload->>'message', ''), '', '', w.at
FROM task_events w JOIN tasks t ON t.id = w.task_id
WHERE w.task_id = $1 AND t.tenant_id = $2 AND w.kind = 'approval_waiting'
	AND (w.run_id IS NULL OR w.run_id = t.run_id)
	AND NOT EXISTS (
		SELECT 1 FROM task_events a
		WHERE a.task_id = w.task_id AND a.kind = 'approval_answered'
			AND a.dedupe_key = 'approval_answered:' || substr(w.dedupe_key, length('approval_waiting:') + 1))
UNION ALL
SELECT 'tool_call', '', '', '', c.call_id, c.tool, c.created_at
FROM tool_calls c JOIN tasks t ON t.id = c.task_id
WHERE c.task_id = $1 AND t.tenant_id = $2 AND c.status = 'pending_approval'
	AND (c.run_id = '' OR c.run_id = t.run_id)
ORDER BY 7`

// Waits lists what a task of the tenant waits for from a person, oldest first. An unknown
// task, or another tenant's, waits for nothing.
func (s *Store) Waits(ctx context.Context, tenantID string, taskID uuid.UUID) ([]Wait, error) {
	rows, err := s.pool.Query(ctx, selectWaits, taskID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("select waits: %w", err)
	}
	waits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Wait, error) {
		var w Wait
		err := row.Scan(&w.Kind, &w.Signal, &w.Step, &w.Message, &w.CallID, &w.Tool, &w.Since)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("select waits: %w", err)
	}
	return waits, nil
}
