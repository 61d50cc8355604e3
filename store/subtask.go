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

// Subtask is one agent step of a workflow task, identified within its task by RunID and Key
// (chosen by the workflow interpreter, e.g. "refine/research#2"). RunID is the Temporal run
// of the task's workflow that ran the step ("" for runs that did not say), so that a run
// started by a reset records its own steps. Seq orders a task's subtasks.
type Subtask struct {
	ID           uuid.UUID
	TaskID       uuid.UUID
	RunID        string
	Key          string
	StepID       string
	Agent        string
	Iteration    int
	Status       Status
	Model        string
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
	Input        json.RawMessage
	Output       json.RawMessage
	Error        string
	WorkflowID   string
	Seq          int64
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
}

const subtaskColumns = `id, task_id, key, COALESCE(step_id, ''), COALESCE(agent, ''), iteration,
	status, COALESCE(model, ''), input_tokens, output_tokens, cost_usd, input, output,
	COALESCE(error, ''), COALESCE(workflow_id, ''), seq, created_at, started_at, finished_at, run_id`

func scanSubtask(row pgx.Row) (Subtask, error) {
	var st Subtask
	err := row.Scan(&st.ID, &st.TaskID, &st.Key, &st.StepID, &st.Agent, &st.Iteration,
		&st.Status, &st.Model, &st.InputTokens, &st.OutputTokens, &st.CostUSD, &st.Input, &st.Output,
		&st.Error, &st.WorkflowID, &st.Seq, &st.CreatedAt, &st.StartedAt, &st.FinishedAt, &st.RunID)
	return st, err
}

const insertSubtask = `
INSERT INTO subtasks (id, task_id, key, step_id, agent, iteration, status, model, input,
	workflow_id, created_at, started_at, run_id)
VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, 'running', NULLIF($7, ''), $8,
	NULLIF($9, ''), $10, $10, $11)
ON CONFLICT (task_id, run_id, key) DO NOTHING
RETURNING ` + subtaskColumns

const selectSubtaskByKey = `SELECT ` + subtaskColumns + ` FROM subtasks WHERE task_id = $1 AND run_id = $2 AND key = $3`

const finishSubtask = `
UPDATE subtasks SET status = $2, model = COALESCE(NULLIF($3, ''), model), output = $4,
	error = NULLIF($5, ''), finished_at = $6
WHERE id = $1 AND status IN ('pending', 'running')
RETURNING ` + subtaskColumns

const listSubtasks = `SELECT ` + subtaskColumns + ` FROM subtasks WHERE task_id = $1 ORDER BY seq`

// StartSubtask inserts the subtask (st.TaskID, st.RunID, st.Key) as running, with its
// "subtask_started" event, and returns it; a run's first step makes it the task's current run
// (see AppendRunEvent). A retried call returns the subtask already stored, unchanged (same ID).
// A zero st.ID means generate one; st.Status and the fields set by the store are ignored.
func (s *Store) StartSubtask(ctx context.Context, st Subtask) (Subtask, error) {
	if st.TaskID == uuid.Nil || st.Key == "" {
		return Subtask{}, fmt.Errorf("%w: a subtask needs a task id and a key", ErrInvalid)
	}
	if st.ID == uuid.Nil {
		st.ID = uuid.New()
	}
	now := s.now()
	var out Subtask
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanSubtask(tx.QueryRow(ctx, insertSubtask, st.ID, st.TaskID, st.Key, st.StepID,
			st.Agent, st.Iteration, st.Model, nullJSON(st.Input), st.WorkflowID, now, st.RunID))
		if errors.Is(err, pgx.ErrNoRows) {
			if out, err = scanSubtask(tx.QueryRow(ctx, selectSubtaskByKey, st.TaskID, st.RunID, st.Key)); err != nil {
				return fmt.Errorf("select subtask: %w", err)
			}
			return nil
		}
		if isForeignKeyViolation(err) {
			return fmt.Errorf("task %s: %w", st.TaskID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("insert subtask: %w", err)
		}
		if err := startRun(ctx, tx, out.TaskID, out.RunID, now); err != nil {
			return err
		}
		return insertRunEvent(ctx, tx, out.TaskID, out.RunID, "subtask_started", "subtask_started:"+out.Key, subtaskPayload(out), now)
	})
	if err != nil {
		return Subtask{}, err
	}
	return out, nil
}

// FinishSubtask sets the terminal status of a subtask with its output or error message (and
// its model, when model is not empty), and appends a "subtask_<status>" event. On a subtask
// already terminal it changes nothing (so retries are harmless). Text the database cannot
// hold (NUL bytes, invalid UTF-8) is stored cleaned.
func (s *Store) FinishSubtask(ctx context.Context, id uuid.UUID, status Status, model string, output json.RawMessage, errMsg string) error {
	if !status.Terminal() {
		return fmt.Errorf("%w: finish subtask with non-terminal status %q", ErrInvalid, status)
	}
	output, errMsg = cleanJSON(output), cleanText(errMsg)
	now := s.now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		st, err := scanSubtask(tx.QueryRow(ctx, finishSubtask, id, status, model, nullJSON(output), errMsg, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return mustExist(ctx, tx, "subtask "+id.String(), `SELECT EXISTS (SELECT 1 FROM subtasks WHERE id = $1)`, id)
		}
		if err != nil {
			return fmt.Errorf("finish subtask: %w", err)
		}
		kind := "subtask_" + string(status)
		return insertRunEvent(ctx, tx, st.TaskID, st.RunID, kind, kind+":"+st.Key, subtaskPayload(st), now)
	})
}

// ListSubtasks returns the subtasks of the tenant's task in the order they started.
// ErrNotFound if the task is not the tenant's.
func (s *Store) ListSubtasks(ctx context.Context, tenantID string, taskID uuid.UUID) ([]Subtask, error) {
	return listOfTask(ctx, s, tenantID, taskID, "subtasks", listSubtasks, scanSubtask)
}

// subtaskEvent is the payload of the events of a subtask.
type subtaskEvent struct {
	SubtaskID uuid.UUID `json:"subtask_id"`
	RunID     string    `json:"run_id,omitempty"`
	Key       string    `json:"key"`
	StepID    string    `json:"step_id,omitempty"`
	Agent     string    `json:"agent,omitempty"`
	Iteration int       `json:"iteration"`
	Status    Status    `json:"status"`
	Error     string    `json:"error,omitempty"`
}

func subtaskPayload(st Subtask) subtaskEvent {
	return subtaskEvent{SubtaskID: st.ID, RunID: st.RunID, Key: st.Key, StepID: st.StepID, Agent: st.Agent,
		Iteration: st.Iteration, Status: st.Status, Error: st.Error}
}
