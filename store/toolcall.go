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

// ToolCallStatus is the state of a tool call.
type ToolCallStatus string

// The states of a tool call: pending_approval → running → succeeded or failed; a call
// waiting for approval may be rejected instead. A call with no approval starts running.
const (
	ToolCallPendingApproval ToolCallStatus = "pending_approval"
	ToolCallRunning         ToolCallStatus = "running"
	ToolCallSucceeded       ToolCallStatus = "succeeded"
	ToolCallFailed          ToolCallStatus = "failed"
	ToolCallRejected        ToolCallStatus = "rejected"
)

// ToolCall is one call of a tool by a task (and one of its subtasks when SubtaskID is set).
// CallID is its idempotency key, unique within the task's workflow run RunID ("" for runs that
// did not say) and stable across retries; a run started by a reset records its own calls.
type ToolCall struct {
	ID         int64
	TaskID     uuid.UUID
	RunID      string
	SubtaskID  *uuid.UUID
	CallID     string
	Tool       string
	Arguments  json.RawMessage
	Result     json.RawMessage
	Error      string
	Status     ToolCallStatus
	Attempts   int
	LatencyMS  int64
	WorkflowID string // the workflow that makes the call and waits for its approval
	DecidedBy  string
	Comment    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// Terminal reports whether s is a final state: succeeded, failed or rejected.
func (s ToolCallStatus) Terminal() bool {
	return s == ToolCallSucceeded || s == ToolCallFailed || s == ToolCallRejected
}

// stage orders the states: a call's status only moves to a later stage.
// Unknown states have none (-1).
func (s ToolCallStatus) stage() int {
	switch {
	case s == ToolCallPendingApproval:
		return 0
	case s == ToolCallRunning:
		return 1
	case s.Terminal():
		return 2
	}
	return -1
}

const toolCallColumns = `id, task_id, subtask_id, call_id, tool, arguments, result,
	COALESCE(error, ''), status, attempts, latency_ms, COALESCE(workflow_id, ''),
	COALESCE(decided_by, ''), COALESCE(comment, ''), created_at, updated_at, finished_at, run_id`

func scanToolCall(row pgx.Row) (ToolCall, error) {
	var c ToolCall
	err := row.Scan(&c.ID, &c.TaskID, &c.SubtaskID, &c.CallID, &c.Tool, &c.Arguments, &c.Result,
		&c.Error, &c.Status, &c.Attempts, &c.LatencyMS, &c.WorkflowID,
		&c.DecidedBy, &c.Comment, &c.CreatedAt, &c.UpdatedAt, &c.FinishedAt, &c.RunID)
	return c, err
}

const insertToolCall = `
INSERT INTO tool_calls (task_id, subtask_id, call_id, tool, arguments, result, error, status,
	attempts, latency_ms, workflow_id, decided_by, comment, created_at, updated_at, finished_at, run_id)
VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, NULLIF($11, ''), NULLIF($12, ''),
	NULLIF($13, ''), $14, $14, $15, $16)
ON CONFLICT (task_id, run_id, call_id) DO NOTHING
RETURNING ` + toolCallColumns

const selectToolCallForUpdate = `SELECT ` + toolCallColumns + `
FROM tool_calls WHERE task_id = $1 AND run_id = $2 AND call_id = $3 FOR UPDATE`

// updateToolCall sets the status and the fields given (non-empty, non-zero); the arguments
// stay those of the insert.
const updateToolCall = `
UPDATE tool_calls SET status = $2, result = COALESCE($3, result), error = COALESCE(NULLIF($4, ''), error),
	attempts = CASE WHEN $5 > 0 THEN $5 ELSE attempts END,
	latency_ms = CASE WHEN $6 > 0 THEN $6 ELSE latency_ms END,
	workflow_id = COALESCE(NULLIF($7, ''), workflow_id), decided_by = COALESCE(NULLIF($8, ''), decided_by),
	comment = COALESCE(NULLIF($9, ''), comment), finished_at = COALESCE($10, finished_at), updated_at = $11
WHERE id = $1
RETURNING ` + toolCallColumns

// selectTenantToolCall reads the call of the latest run that made it.
const selectTenantToolCall = `SELECT ` + toolCallColumns + `
FROM tool_calls WHERE task_id = $1 AND call_id = $2
	AND EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND tenant_id = $3)
ORDER BY id DESC LIMIT 1`

const listToolCalls = `SELECT ` + toolCallColumns + ` FROM tool_calls WHERE task_id = $1 ORDER BY id`

// RecordToolCall records the state of a tool call, idempotently by (task, run, call id): the
// first record inserts the row (and makes the run the task's current one, see AppendRunEvent),
// later ones update it. The status only moves forward
// (pending_approval → running or rejected; running → succeeded or failed): a record of an
// earlier status, or any record of a call already ended, changes nothing, and one of the same
// status updates only the fields it gives. Arguments are kept from the insert; Result, Error,
// Attempts, LatencyMS, WorkflowID, DecidedBy, Comment and FinishedAt overwrite when given. A
// call that ends with no FinishedAt ends now. In the same transaction, once per call and
// status, it appends the event "tool_call.waiting", "tool_call.started" or
// "tool_call.finished" (without arguments or result). Text the database cannot hold (NUL
// bytes, invalid UTF-8, JSON that does not parse) is stored cleaned, never refused.
func (s *Store) RecordToolCall(ctx context.Context, c ToolCall) error {
	if c.TaskID == uuid.Nil || c.CallID == "" || c.Tool == "" {
		return fmt.Errorf("%w: a tool call needs a task id, a call id and a tool", ErrInvalid)
	}
	if c.Status.stage() < 0 {
		return fmt.Errorf("%w: unknown tool call status %q", ErrInvalid, c.Status)
	}
	c = cleanToolCall(c)
	now := s.now()
	if c.Status.Terminal() && c.FinishedAt == nil {
		c.FinishedAt = &now
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if c.SubtaskID != nil {
			if err := mustExist(ctx, tx, "subtask "+c.SubtaskID.String()+" of task "+c.TaskID.String(),
				`SELECT EXISTS (SELECT 1 FROM subtasks WHERE id = $1 AND task_id = $2)`, *c.SubtaskID, c.TaskID); err != nil {
				return err
			}
		}
		row, err := scanToolCall(tx.QueryRow(ctx, insertToolCall, c.TaskID, c.SubtaskID, c.CallID,
			c.Tool, nullJSON(c.Arguments), nullJSON(c.Result), c.Error, c.Status, c.Attempts,
			c.LatencyMS, c.WorkflowID, c.DecidedBy, c.Comment, now, c.FinishedAt, c.RunID))
		switch {
		case err == nil:
			if err := startRun(ctx, tx, c.TaskID, c.RunID, now); err != nil {
				return err
			}
			return insertToolCallEvent(ctx, tx, row, now)
		case isForeignKeyViolation(err):
			return fmt.Errorf("record tool call: task %s: %w", c.TaskID, ErrNotFound)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("insert tool call: %w", err)
		}
		old, err := scanToolCall(tx.QueryRow(ctx, selectToolCallForUpdate, c.TaskID, c.RunID, c.CallID))
		if err != nil {
			return fmt.Errorf("select tool call: %w", err)
		}
		switch {
		case old.Status.Terminal() || c.Status.stage() < old.Status.stage():
			return nil // a late or repeated record: the call has moved on
		case c.Status == ToolCallRejected && old.Status != ToolCallPendingApproval:
			return fmt.Errorf("%w: tool call %s is %s and cannot be rejected", ErrConflict, c.CallID, old.Status)
		}
		row, err = scanToolCall(tx.QueryRow(ctx, updateToolCall, old.ID, c.Status, nullJSON(c.Result),
			c.Error, c.Attempts, c.LatencyMS, c.WorkflowID, c.DecidedBy, c.Comment, c.FinishedAt, now))
		if err != nil {
			return fmt.Errorf("update tool call: %w", err)
		}
		if row.Status == old.Status {
			return nil
		}
		return insertToolCallEvent(ctx, tx, row, now)
	})
}

// cleanToolCall makes the text of c storable.
func cleanToolCall(c ToolCall) ToolCall {
	c.CallID, c.Tool, c.Error = cleanText(c.CallID), cleanText(c.Tool), cleanText(c.Error)
	c.WorkflowID, c.DecidedBy, c.Comment = cleanText(c.WorkflowID), cleanText(c.DecidedBy), cleanText(c.Comment)
	c.Arguments, c.Result = cleanJSON(c.Arguments), cleanJSON(c.Result)
	return c
}

// GetToolCall returns the call callID of the tenant's task, as the latest run that made it
// recorded it; ErrNotFound for an unknown call
// and for another tenant's task.
func (s *Store) GetToolCall(ctx context.Context, tenantID string, taskID uuid.UUID, callID string) (ToolCall, error) {
	c, err := scanToolCall(s.pool.QueryRow(ctx, selectTenantToolCall, taskID, callID, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return ToolCall{}, fmt.Errorf("tool call %s of task %s: %w", callID, taskID, ErrNotFound)
	}
	if err != nil {
		return ToolCall{}, fmt.Errorf("select tool call: %w", err)
	}
	return c, nil
}

// ListToolCalls returns the tool calls of the tenant's task in the order they were first
// recorded. ErrNotFound if the task is not the tenant's.
func (s *Store) ListToolCalls(ctx context.Context, tenantID string, taskID uuid.UUID) ([]ToolCall, error) {
	return listOfTask(ctx, s, tenantID, taskID, "tool calls", listToolCalls, scanToolCall)
}

// toolCallEvent is the payload of the events of a tool call: no arguments or result, which
// may be large.
type toolCallEvent struct {
	RunID     string         `json:"run_id,omitempty"`
	CallID    string         `json:"call_id"`
	Tool      string         `json:"tool"`
	Status    ToolCallStatus `json:"status"`
	SubtaskID *uuid.UUID     `json:"subtask_id,omitempty"`
	Error     string         `json:"error,omitempty"`
	LatencyMS int64          `json:"latency_ms,omitempty"`
	DecidedBy string         `json:"decided_by,omitempty"`
}

// insertToolCallEvent appends the event of c's status, once per call and status.
func insertToolCallEvent(ctx context.Context, tx pgx.Tx, c ToolCall, at time.Time) error {
	kind := "tool_call.finished"
	switch c.Status {
	case ToolCallPendingApproval:
		kind = "tool_call.waiting"
	case ToolCallRunning:
		kind = "tool_call.started"
	}
	return insertRunEvent(ctx, tx, c.TaskID, c.RunID, kind, "tool_call:"+c.CallID+":"+string(c.Status), toolCallEvent{
		RunID: c.RunID, CallID: c.CallID, Tool: c.Tool, Status: c.Status, SubtaskID: c.SubtaskID, Error: c.Error,
		LatencyMS: c.LatencyMS, DecidedBy: c.DecidedBy,
	}, at)
}
