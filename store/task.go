package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Task is one submitted task, run as the Temporal workflow WorkflowID ("task-<id>").
type Task struct {
	ID             uuid.UUID
	TenantID       string
	UserIDHash     string
	Type           string
	Status         Status
	Input          json.RawMessage
	Output         json.RawMessage
	Error          string
	Model          string
	InputTokens    int64
	OutputTokens   int64
	CostUSD        float64
	WorkflowID     string
	RunID          string
	ParentID       *uuid.UUID
	Priority       int
	IdempotencyKey string
	Metadata       json.RawMessage
	DefinitionHash string
	// Queue is the Temporal task queue of the task's workflow; "" is the
	// default queue.
	Queue string
	// Timeout bounds the task's whole run; 0 is none.
	Timeout time.Duration
	// Source is SourceTroupe for a task troupe runs, SourceExternal for a
	// run reported by a flow that runs elsewhere (see RecordExternalEvents).
	Source Source
	// TraceID is the OpenTelemetry trace id (hex) of the request that
	// created the task, or of the reporting flow; "" if none.
	TraceID    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// NewTask is what CreateTask needs to insert a task.
type NewTask struct {
	// ID is the task id; the zero value means generate one.
	ID             uuid.UUID
	TenantID       string
	UserIDHash     string
	Type           string
	Input          json.RawMessage
	Model          string
	Priority       int
	IdempotencyKey string
	// RequestHash is the hash of the request IdempotencyKey is bound to
	// (what the caller makes it of): a replay of the key with another hash
	// is refused with ErrInvalid.
	RequestHash    string
	Metadata       json.RawMessage
	DefinitionHash string
	Queue          string
	Timeout        time.Duration
	ParentID       *uuid.UUID
	// TraceID is the OpenTelemetry trace id (hex) of the submit, if any.
	TraceID string
	// Actor is who submitted the task, written to the task_created audit row.
	Actor string
}

// TaskFilter selects the tasks ListTasks returns. TenantID is required; other zero fields do not
// filter. CreatedAfter and CreatedBefore are exclusive bounds.
type TaskFilter struct {
	TenantID   string
	Status     Status
	Type       string
	UserIDHash string
	// Model is the model of the task (its default model).
	Model string
	// ScheduleID is the schedule that started the task (its metadata's schedule_id).
	ScheduleID string
	// Source keeps the tasks troupe runs or the runs reported from outside.
	Source        Source
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Limit is the page size: default 50, at most 200.
	Limit int
	// Cursor is the nextCursor of the previous page, or "" for the first page.
	Cursor string
}

// WorkflowID returns the Temporal workflow id of the task with id.
func WorkflowID(id uuid.UUID) string {
	return "task-" + id.String()
}

// TaskOfWorkflow returns the task whose workflow, or one of whose child
// workflows ("task-<id>/<step>"), has the id workflowID.
func TaskOfWorkflow(workflowID string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(workflowID, "task-")
	if !ok || len(rest) < 36 || (len(rest) > 36 && rest[36] != '/') {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest[:36])
	return id, err == nil
}

// systemActor is the audit actor of writes made by workflows rather than by a person.
const systemActor = "system"

const taskColumns = `id, tenant_id, COALESCE(user_id_hash, ''), type, status, input, output,
	COALESCE(error, ''), COALESCE(model, ''), input_tokens, output_tokens, cost_usd,
	COALESCE(workflow_id, ''), COALESCE(run_id, ''), parent_id, priority,
	COALESCE(idempotency_key, ''), metadata, COALESCE(definition_hash, ''),
	COALESCE(queue, ''), COALESCE(timeout_ms, 0) * interval '1 millisecond',
	source, COALESCE(trace_id, ''), created_at, updated_at, started_at, finished_at`

func scanTask(row pgx.Row) (Task, error) {
	var t Task
	err := row.Scan(&t.ID, &t.TenantID, &t.UserIDHash, &t.Type, &t.Status, &t.Input, &t.Output,
		&t.Error, &t.Model, &t.InputTokens, &t.OutputTokens, &t.CostUSD,
		&t.WorkflowID, &t.RunID, &t.ParentID, &t.Priority,
		&t.IdempotencyKey, &t.Metadata, &t.DefinitionHash,
		&t.Queue, &t.Timeout,
		&t.Source, &t.TraceID, &t.CreatedAt, &t.UpdatedAt, &t.StartedAt, &t.FinishedAt)
	return t, err
}

// insertTask does nothing when the id or the tenant's idempotency key is already used.
const insertTask = `
INSERT INTO tasks (id, tenant_id, user_id_hash, type, status, input, model, priority,
	idempotency_key, metadata, definition_hash, parent_id, workflow_id, created_at, updated_at,
	idempotency_hash, queue, timeout_ms, trace_id)
VALUES ($1, $2, NULLIF($3, ''), $4, 'pending', $5, NULLIF($6, ''), $7,
	NULLIF($8, ''), $9, NULLIF($10, ''), $11, $12, $13, $13, NULLIF($14, ''), NULLIF($15, ''), NULLIF($16, 0),
	NULLIF($17, ''))
ON CONFLICT DO NOTHING
RETURNING ` + taskColumns

const selectTaskByIdempotencyKey = `SELECT ` + taskColumns + `
FROM tasks WHERE tenant_id = $1 AND idempotency_key = $2`

const selectTenantTask = `SELECT ` + taskColumns + ` FROM tasks WHERE id = $1 AND tenant_id = $2`

const selectTask = `SELECT ` + taskColumns + ` FROM tasks WHERE id = $1`

// CreateTask inserts a pending task (workflow id "task-<id>") with its task_created audit row
// and "created" event, in one transaction. When the tenant already used t.IdempotencyKey (or
// t.ID), it returns the existing task and created=false, also under concurrent duplicates;
// but ErrInvalid when the key was used with another t.RequestHash. A key is the tenant's
// for as long as its task row exists.
func (s *Store) CreateTask(ctx context.Context, t NewTask) (task Task, created bool, err error) {
	if t.TenantID == "" || t.Type == "" {
		return Task{}, false, fmt.Errorf("%w: a task needs a tenant and a type", ErrInvalid)
	}
	if t.ID == uuid.Nil {
		t.ID = uuid.New()
	}
	now := s.now()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		task, err = scanTask(tx.QueryRow(ctx, insertTask, t.ID, t.TenantID, t.UserIDHash, t.Type,
			nullJSON(t.Input), t.Model, t.Priority, t.IdempotencyKey, nullJSON(t.Metadata),
			t.DefinitionHash, t.ParentID, WorkflowID(t.ID), now, t.RequestHash, t.Queue, t.Timeout.Milliseconds(), t.TraceID))
		if errors.Is(err, pgx.ErrNoRows) {
			task, err = existingTask(ctx, tx, t)
			return err
		}
		if isForeignKeyViolation(err) {
			return fmt.Errorf("%w: parent task %s does not exist", ErrInvalid, t.ParentID)
		}
		if err != nil {
			return fmt.Errorf("insert task: %w", err)
		}
		created = true
		if err := insertTaskAudit(ctx, tx, task, "task_created", t.Actor, "", now, map[string]string{"type": task.Type}); err != nil {
			return err
		}
		return insertEvent(ctx, tx, task.ID, "created", "created", statusPayload(task), now)
	})
	if err != nil {
		return Task{}, false, err
	}
	return task, created, nil
}

const selectIdempotencyHash = `SELECT COALESCE(idempotency_hash, '') FROM tasks WHERE id = $1`

// existingTask returns the task whose insert conflicted with t, or ErrInvalid when it
// conflicted on an idempotency key bound to another request.
func existingTask(ctx context.Context, q querier, t NewTask) (Task, error) {
	var row pgx.Row
	if t.IdempotencyKey != "" {
		row = q.QueryRow(ctx, selectTaskByIdempotencyKey, t.TenantID, t.IdempotencyKey)
	} else {
		row = q.QueryRow(ctx, selectTenantTask, t.ID, t.TenantID)
	}
	task, err := scanTask(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Task{}, fmt.Errorf("create task %s: %w: id already used", t.ID, ErrConflict)
	}
	if err != nil {
		return Task{}, fmt.Errorf("select existing task: %w", err)
	}
	if t.IdempotencyKey == "" {
		return task, nil
	}
	var hash string
	if err := q.QueryRow(ctx, selectIdempotencyHash, task.ID).Scan(&hash); err != nil {
		return Task{}, fmt.Errorf("select idempotency hash: %w", err)
	}
	// Tasks from before the hash was stored have none: they are not checked.
	if hash != "" && hash != t.RequestHash {
		return Task{}, fmt.Errorf("%w: the Idempotency-Key %q was used for another request (task %s); use a new key for a new request",
			ErrInvalid, t.IdempotencyKey, task.ID)
	}
	return task, nil
}

const deletePendingTask = `DELETE FROM tasks WHERE id = $1 AND status = 'pending' RETURNING ` + taskColumns

// DeleteTask removes a pending task that never started (used when starting its workflow
// failed), with its events, and writes a task_start_failed audit row: audit rows stay.
// It returns ErrNotFound for an unknown task and ErrConflict for a task that left pending.
func (s *Store) DeleteTask(ctx context.Context, id uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		task, err := scanTask(tx.QueryRow(ctx, deletePendingTask, id))
		if errors.Is(err, pgx.ErrNoRows) {
			if err := taskExists(ctx, tx, id); err != nil {
				return err
			}
			return fmt.Errorf("delete task %s: %w: it is no longer pending", id, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("delete task: %w", err)
		}
		return insertTaskAudit(ctx, tx, task, "task_start_failed", systemActor, "", s.now(), nil)
	})
}

// GetTask returns the task id of tenantID; ErrNotFound also for another tenant's task.
func (s *Store) GetTask(ctx context.Context, tenantID string, id uuid.UUID) (Task, error) {
	return getTask(s.pool.QueryRow(ctx, selectTenantTask, id, tenantID), id)
}

// GetTaskByID returns the task id whatever its tenant (for activities).
func (s *Store) GetTaskByID(ctx context.Context, id uuid.UUID) (Task, error) {
	return getTask(s.pool.QueryRow(ctx, selectTask, id), id)
}

func getTask(row pgx.Row, id uuid.UUID) (Task, error) {
	task, err := scanTask(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Task{}, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Task{}, fmt.Errorf("select task: %w", err)
	}
	return task, nil
}

// ListTasks returns a page of the tenant's tasks matching f, newest first, and the cursor of
// the next page ("" on the last page). A cursor ListTasks did not issue gives ErrInvalidCursor.
func (s *Store) ListTasks(ctx context.Context, f TaskFilter) (tasks []Task, nextCursor string, err error) {
	c, err := taskConditions(f)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit, 50, 200)
	tasks, err = s.selectTasks(ctx, c, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	tasks, nextCursor = page(tasks, limit, taskPosition)
	return tasks, nextCursor, nil
}

// taskPosition is the keyset position of a task in lists, newest first.
func taskPosition(t Task) cursor { return cursor{At: t.CreatedAt, ID: t.ID.String()} }

// taskConditions turns f, but its limit, into the conditions of a query of tasks.
func taskConditions(f TaskFilter) (conditions, error) {
	var c conditions
	if f.TenantID == "" {
		return c, fmt.Errorf("%w: listing tasks needs a tenant", ErrInvalid)
	}
	if f.Status != "" && !f.Status.Valid() {
		return c, fmt.Errorf("%w: unknown status %q", ErrInvalid, f.Status)
	}
	c.add("tenant_id = $%d", f.TenantID)
	if f.Status != "" {
		c.add("status = $%d", f.Status)
	}
	if f.Type != "" {
		c.add("type = $%d", f.Type)
	}
	if f.UserIDHash != "" {
		c.add("user_id_hash = $%d", f.UserIDHash)
	}
	if f.Model != "" {
		c.add("model = $%d", f.Model)
	}
	if f.ScheduleID != "" {
		c.add("metadata->>'schedule_id' = $%d", f.ScheduleID)
	}
	if f.Source != "" {
		c.add("source = $%d", f.Source)
	}
	if !f.CreatedAfter.IsZero() {
		c.add("created_at > $%d", f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		c.add("created_at < $%d", f.CreatedBefore)
	}
	if f.Cursor != "" {
		cur, err := decodeCursor(f.Cursor)
		if err != nil {
			return c, err
		}
		id, err := uuid.Parse(cur.ID)
		if err != nil {
			return c, fmt.Errorf("%w: %w", ErrInvalidCursor, err)
		}
		c.add("(created_at, id) < ($%d, $%d)", cur.At, id)
	}
	return c, nil
}

// selectTasks reads up to limit tasks matching c, newest first.
func (s *Store) selectTasks(ctx context.Context, c conditions, limit int) ([]Task, error) {
	query := fmt.Sprintf("SELECT %s FROM tasks %s ORDER BY created_at DESC, id DESC LIMIT %d",
		taskColumns, c.where(), limit)
	rows, err := s.pool.Query(ctx, query, c.args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanTask)
}

const startTask = `
UPDATE tasks SET status = 'running', run_id = NULLIF($2, ''), started_at = $3, updated_at = $3,
	output = NULL, error = NULL, finished_at = NULL
WHERE id = $1 AND (status = 'pending' OR (run_id IS NOT NULL AND run_id IS DISTINCT FROM NULLIF($2, '')))
RETURNING ` + taskColumns

// endedBeforeStart tells whether a task ended with no workflow run.
const endedBeforeStart = `SELECT status <> 'pending' AND status <> 'running' AND run_id IS NULL FROM tasks WHERE id = $1`

// StartTask marks a task running in the workflow run runID, and writes the
// task_started audit row and "started" event of that run. A retry within the
// same run changes nothing. A new run of a task that already started or
// ended (an operator's `temporal workflow reset`) opens the task again; but a
// task that ended before any run started it (canceled while its start was in
// doubt) stays ended, and the run gets ErrEndedBeforeStart.
func (s *Store) StartTask(ctx context.Context, id uuid.UUID, runID string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return startTaskRun(ctx, tx, id, runID, s.now())
	})
}

// startRun makes runID the current run of the task, as StartTask does, when runID is not
// empty: the writes of a step of a run call it, so that a run that a reset started past the
// workflow's StartTask takes the task over with its first step.
func startRun(ctx context.Context, tx pgx.Tx, id uuid.UUID, runID string, at time.Time) error {
	if runID == "" {
		return nil
	}
	return startTaskRun(ctx, tx, id, runID, at)
}

// startTaskRun is StartTask in tx.
func startTaskRun(ctx context.Context, tx pgx.Tx, id uuid.UUID, runID string, now time.Time) error {
	task, err := scanTask(tx.QueryRow(ctx, startTask, id, runID, now))
	if errors.Is(err, pgx.ErrNoRows) {
		var ended bool
		if err := tx.QueryRow(ctx, endedBeforeStart, id).Scan(&ended); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("task %s: %w", id, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("start task: %w", err)
		}
		if ended {
			return fmt.Errorf("task %s: %w", id, ErrEndedBeforeStart)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	if err := insertTaskAudit(ctx, tx, task, "task_started", systemActor, runID, now, map[string]string{"run_id": runID}); err != nil {
		return err
	}
	return insertEvent(ctx, tx, id, "started", "started:"+runID, statusPayload(task), now)
}

const finishTask = `
UPDATE tasks SET status = $2, output = $3, error = NULLIF($4, ''), finished_at = $5, updated_at = $5,
	run_id = NULLIF($6, '')
WHERE id = $1 AND (status IN ('pending', 'running') OR run_id IS DISTINCT FROM NULLIF($6, ''))
RETURNING ` + taskColumns

// FinishTask sets the terminal status of a task, as ended by the workflow run
// runID, with its output or error message, and writes that run's
// task_<status> audit row and "<status>" event. A retry within the same run
// changes nothing; the outcome of a later run (after a reset) replaces an
// earlier one. Text the database cannot hold (NUL bytes, invalid UTF-8) is stored cleaned.
func (s *Store) FinishTask(ctx context.Context, id uuid.UUID, runID string, status Status, output json.RawMessage, errMsg string) error {
	if !status.Terminal() {
		return fmt.Errorf("%w: finish task with non-terminal status %q", ErrInvalid, status)
	}
	output, errMsg = cleanJSON(output), cleanText(errMsg)
	now := s.now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		task, err := scanTask(tx.QueryRow(ctx, finishTask, id, status, nullJSON(output), errMsg, now, runID))
		if errors.Is(err, pgx.ErrNoRows) {
			return taskExists(ctx, tx, id)
		}
		if err != nil {
			return fmt.Errorf("finish task: %w", err)
		}
		var metadata map[string]string
		if errMsg != "" {
			metadata = map[string]string{"error": errMsg}
		}
		if err := insertTaskAudit(ctx, tx, task, "task_"+string(status), systemActor, runID, now, metadata); err != nil {
			return err
		}
		return insertEvent(ctx, tx, id, string(status), string(status)+":"+runID, statusPayload(task), now)
	})
}

// taskExists returns nil if the task exists, else ErrNotFound.
func taskExists(ctx context.Context, q querier, id uuid.UUID) error {
	return mustExist(ctx, q, "task "+id.String(), `SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1)`, id)
}

// tenantTaskExists returns nil if the task exists and belongs to tenantID, else ErrNotFound.
func tenantTaskExists(ctx context.Context, q querier, tenantID string, id uuid.UUID) error {
	return mustExist(ctx, q, "task "+id.String(),
		`SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND tenant_id = $2)`, id, tenantID)
}

// insertTaskAudit writes the audit row eventType of task, once per task and
// workflow run ("<eventType>:<id>", and ":<run id>" when there is one).
func insertTaskAudit(ctx context.Context, q querier, task Task, eventType, actor, runID string, at time.Time, metadata map[string]string) error {
	var raw json.RawMessage
	if metadata != nil {
		var err error
		if raw, err = json.Marshal(metadata); err != nil {
			return fmt.Errorf("marshal audit metadata: %w", err)
		}
	}
	return insertAudit(ctx, q, Audit{
		EventType:    eventType,
		ResourceType: "task",
		ResourceID:   task.ID.String(),
		TenantID:     task.TenantID,
		UserIDHash:   task.UserIDHash,
		Actor:        actor,
		At:           at,
		Metadata:     raw,
		DedupeKey:    strings.TrimSuffix(eventType+":"+task.ID.String()+":"+runID, ":"),
	})
}

// taskEvent is the payload of the events that change a task's status.
type taskEvent struct {
	Status  Status `json:"status"`
	Type    string `json:"type"`
	RunID   string `json:"run_id,omitempty"`
	Error   string `json:"error,omitempty"`
	TraceID string `json:"trace_id,omitempty"`
}

func statusPayload(t Task) taskEvent {
	return taskEvent{Status: t.Status, Type: t.Type, RunID: t.RunID, Error: t.Error, TraceID: t.TraceID}
}

// UnfinishedQueues lists, sorted, the task queues named by the tenant's
// tasks that have not ended (the default queue, "", left out).
func (s *Store) UnfinishedQueues(ctx context.Context, tenantID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT queue FROM tasks
WHERE tenant_id = $1 AND status IN ('pending', 'running') AND queue IS NOT NULL ORDER BY queue`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list the queues of unfinished tasks: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
