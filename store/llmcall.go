package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// LLMCall is one attempt of one LLM call of a task (and of one of its subtasks, when SubtaskID
// is set). CallKey identifies the call (the activity's workflow id, run id and activity id);
// Attempt its retry.
type LLMCall struct {
	ID           int64
	TaskID       uuid.UUID
	SubtaskID    *uuid.UUID
	CallKey      string
	Attempt      int
	Provider     string
	Model        string
	Request      json.RawMessage
	Response     json.RawMessage
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
	LatencyMS    int64
	// StatusCode is the provider's HTTP status; 0 means none (e.g. a network error).
	StatusCode int
	Error      string
	CreatedAt  time.Time
}

const llmCallColumns = `id, task_id, subtask_id, call_key, attempt, provider, model, request,
	response, input_tokens, output_tokens, cost_usd, latency_ms, COALESCE(status_code, 0),
	COALESCE(error, ''), created_at`

const insertLLMCall = `
INSERT INTO llm_calls (task_id, subtask_id, call_key, attempt, provider, model, request, response,
	input_tokens, output_tokens, cost_usd, latency_ms, status_code, error, created_at, tenant_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULLIF($13, 0), NULLIF($14, ''), $15,
	(SELECT tenant_id FROM tasks WHERE id = $1))
ON CONFLICT (task_id, call_key, attempt) DO NOTHING
RETURNING id`

// The usage updates also fill in the model of a task or subtask created without one.
const addSubtaskUsage = `
UPDATE subtasks SET input_tokens = input_tokens + $3, output_tokens = output_tokens + $4,
	cost_usd = cost_usd + $5, model = COALESCE(model, NULLIF($6, ''))
WHERE id = $1 AND task_id = $2`

const addTaskUsage = `
UPDATE tasks SET input_tokens = input_tokens + $2, output_tokens = output_tokens + $3,
	cost_usd = cost_usd + $4, model = COALESCE(model, NULLIF($5, '')), updated_at = $6
WHERE id = $1`

const listLLMCalls = `SELECT ` + llmCallColumns + ` FROM llm_calls WHERE task_id = $1 ORDER BY id`

// RecordLLMCall stores one attempt of an LLM call, once per (task, call key, attempt). Only
// when the row is new, in the same transaction, it adds the call's tokens and cost to the
// task's totals (and the subtask's, when SubtaskID is set), settles the call's budget
// reservation (see ReserveBudget; the reservation of CallKey#Attempt) adding its cost to the
// tenant's spend of the month, and appends an "llm_call" event. A zero CreatedAt means now. Text the database cannot hold (NUL bytes, invalid UTF-8) is
// stored cleaned, so that a paid answer is never lost to its content.
func (s *Store) RecordLLMCall(ctx context.Context, c LLMCall) error {
	if c.TaskID == uuid.Nil || c.CallKey == "" {
		return fmt.Errorf("%w: an LLM call needs a task id and a call key", ErrInvalid)
	}
	c.CallKey, c.Provider, c.Model, c.Error = cleanText(c.CallKey), cleanText(c.Provider), cleanText(c.Model), cleanText(c.Error)
	c.Request, c.Response = cleanJSON(c.Request), cleanJSON(c.Response)
	now := s.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, insertLLMCall, c.TaskID, c.SubtaskID, c.CallKey, c.Attempt,
			c.Provider, c.Model, nullJSON(c.Request), nullJSON(c.Response), c.InputTokens,
			c.OutputTokens, c.CostUSD, c.LatencyMS, c.StatusCode, c.Error, c.CreatedAt).Scan(&c.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // already recorded
		}
		if isForeignKeyViolation(err) {
			return fmt.Errorf("record llm call: task or subtask: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("insert llm call: %w", err)
		}
		// Subtask before task: every transaction locks rows in that order.
		if c.SubtaskID != nil {
			tag, err := tx.Exec(ctx, addSubtaskUsage, *c.SubtaskID, c.TaskID, c.InputTokens,
				c.OutputTokens, c.CostUSD, c.Model)
			if err != nil {
				return fmt.Errorf("add subtask usage: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("%w: subtask %s is not a subtask of task %s", ErrInvalid, *c.SubtaskID, c.TaskID)
			}
		}
		if _, err := tx.Exec(ctx, addTaskUsage, c.TaskID, c.InputTokens, c.OutputTokens,
			c.CostUSD, c.Model, now); err != nil {
			return fmt.Errorf("add task usage: %w", err)
		}
		if err := settleBudget(ctx, tx, c.TaskID, c.CallKey+"#"+strconv.Itoa(c.Attempt), c.CostUSD, c.CreatedAt); err != nil {
			return err
		}
		return insertEvent(ctx, tx, c.TaskID, "llm_call", "llm_call:"+c.CallKey+"#"+strconv.Itoa(c.Attempt),
			llmCallPayload(c), now)
	})
}

// ListLLMCalls returns the LLM calls of the tenant's task in the order they were recorded.
// ErrNotFound if the task is not the tenant's.
func (s *Store) ListLLMCalls(ctx context.Context, tenantID string, taskID uuid.UUID) ([]LLMCall, error) {
	return listOfTask(ctx, s, tenantID, taskID, "llm calls", listLLMCalls, func(row pgx.Row) (LLMCall, error) {
		var c LLMCall
		err := row.Scan(&c.ID, &c.TaskID, &c.SubtaskID, &c.CallKey, &c.Attempt, &c.Provider,
			&c.Model, &c.Request, &c.Response, &c.InputTokens, &c.OutputTokens, &c.CostUSD,
			&c.LatencyMS, &c.StatusCode, &c.Error, &c.CreatedAt)
		return c, err
	})
}

// llmCallEvent is the payload of an "llm_call" event: the call without its messages.
type llmCallEvent struct {
	LLMCallID    int64      `json:"llm_call_id"`
	SubtaskID    *uuid.UUID `json:"subtask_id,omitempty"`
	CallKey      string     `json:"call_key"`
	Attempt      int        `json:"attempt"`
	Provider     string     `json:"provider"`
	Model        string     `json:"model"`
	InputTokens  int64      `json:"input_tokens"`
	OutputTokens int64      `json:"output_tokens"`
	CostUSD      float64    `json:"cost_usd"`
	LatencyMS    int64      `json:"latency_ms"`
	StatusCode   int        `json:"status_code,omitempty"`
	Error        string     `json:"error,omitempty"`
}

func llmCallPayload(c LLMCall) llmCallEvent {
	return llmCallEvent{LLMCallID: c.ID, SubtaskID: c.SubtaskID, CallKey: c.CallKey,
		Attempt: c.Attempt, Provider: c.Provider, Model: c.Model, InputTokens: c.InputTokens,
		OutputTokens: c.OutputTokens, CostUSD: c.CostUSD, LatencyMS: c.LatencyMS,
		StatusCode: c.StatusCode, Error: c.Error}
}
