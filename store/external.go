package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Source tells who runs a task.
type Source string

// The sources of tasks.
const (
	// SourceTroupe is a task troupe runs as a Temporal workflow.
	SourceTroupe Source = "troupe"
	// SourceExternal is a run of a flow that runs elsewhere and reports its
	// progress (RecordExternalEvents): it has no workflow.
	SourceExternal Source = "external"
)

// The kinds of ExternalEvent.
const (
	FlowStarted   = "flow_started"
	FlowCompleted = "flow_completed"
	NodeStarted   = "task_started"
	NodeOK        = "task_ok"
	NodeErr       = "task_err"
	NodeLog       = "task_log"
)

// ExternalEvent is one event reported by a flow that runs outside troupe. Its run
// (RunID, chosen by the client and unique within its tenant) is a task of source
// SourceExternal and type Flow; each task node of the run is a subtask keyed by
// NodeRunID (default Node); each task_log is a "log" event of the task.
type ExternalEvent struct {
	Kind  string
	RunID string
	Flow  string
	// Node is the task node of node events (task_started, task_ok, task_err);
	// a log line may name one.
	Node string
	// NodeRunID tells runs of one node apart (a retry of it); default Node.
	NodeRunID string
	// ID is the client's id of a log line, so that a line sent twice is kept
	// once; default: a hash of the line.
	ID string
	// At is when the event happened (default: when it is recorded).
	At time.Time
	// Duration, on task_ok, task_err and flow_completed, dates the start of
	// what ended at At when its start event is missing.
	Duration time.Duration
	Error    string
	Level    string
	Message  string
	// Payload is the input of flow_started, the output of flow_completed and
	// task_ok, or the attributes of a log line.
	Payload json.RawMessage
	// TraceID is the run's OpenTelemetry trace id, if it has one.
	TraceID string
}

// ExternalRun is the state of a reported run after RecordExternalEvents.
type ExternalRun struct {
	RunID  string
	TaskID uuid.UUID
	Status Status
}

// ExternalTaskID is the task id of the tenant's reported run runID.
func ExternalTaskID(tenantID, runID string) uuid.UUID {
	return uuid.NewSHA1(externalRunSpace, []byte(tenantID+"\x00"+runID))
}

// externalRunSpace is the UUID namespace of the task ids of reported runs.
var externalRunSpace = uuid.MustParse("0b6c2f0e-8d7e-4a43-9f43-2d1d3c6f0a7e")

const insertExternalTask = `
INSERT INTO tasks (id, tenant_id, type, status, source, metadata, trace_id, created_at, updated_at, started_at)
VALUES ($1, $2, $3, 'running', 'external', jsonb_build_object('external_run_id', $4::text), NULLIF($5, ''), LEAST($6::timestamptz, $7::timestamptz), $6, $7)
ON CONFLICT (id) DO NOTHING
RETURNING ` + taskColumns

const lockExternalTask = `SELECT ` + taskColumns + ` FROM tasks WHERE id = $1 FOR NO KEY UPDATE`

const startExternalTask = `
UPDATE tasks SET started_at = LEAST(started_at, $2), input = COALESCE(input, $3),
	trace_id = COALESCE(trace_id, NULLIF($4, '')), updated_at = $5
WHERE id = $1 RETURNING ` + taskColumns

const finishExternalTask = `
UPDATE tasks SET status = $2, output = $3, error = NULLIF($4, ''), finished_at = GREATEST($5, created_at),
	started_at = LEAST(started_at, $6),
	updated_at = $7
WHERE id = $1 AND status = 'running' RETURNING ` + taskColumns

// upsertExternalSubtask records what one event says of a node: a status
// moves forward only (a node that ended stays ended: the first end wins), a
// start is the earliest said, an end the first said.
const upsertExternalSubtask = `
INSERT INTO subtasks (id, task_id, key, step_id, status, created_at, started_at, finished_at, output, error, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), '')
ON CONFLICT (task_id, run_id, key) DO UPDATE SET
	status = CASE WHEN subtasks.status IN ('pending', 'running') THEN EXCLUDED.status ELSE subtasks.status END,
	started_at = LEAST(subtasks.started_at, EXCLUDED.started_at),
	finished_at = COALESCE(subtasks.finished_at, EXCLUDED.finished_at),
	output = COALESCE(subtasks.output, EXCLUDED.output),
	error = COALESCE(subtasks.error, EXCLUDED.error)
RETURNING ` + subtaskColumns

// RecordExternalEvents records a batch of events reported by flows that run
// outside troupe, for the tenant, in one transaction: all of them or none.
// Each is applied so that order and repetition do not matter: a run ends
// once, with its first end; a node ends once; a log line (by ID) is kept
// once; starts are the earliest said. Each change appends the event a troupe
// task would (started, completed or failed; subtask_started, _completed or
// _failed; log), so reported runs are listed and streamed like tasks. actor
// is who reported, for the audit rows of a run's creation and end. It returns
// each run's state after the batch, in the order the runs first appear.
func (s *Store) RecordExternalEvents(ctx context.Context, tenantID, actor string, events []ExternalEvent) ([]ExternalRun, error) {
	now := s.now()
	for i := range events {
		if err := validExternalEvent(&events[i], now); err != nil {
			return nil, fmt.Errorf("%w: event %d: %w", ErrInvalid, i, err)
		}
	}
	// Lock the runs in one order, so that two batches naming the same runs
	// cannot deadlock; the events of a run keep their order.
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(events[a].RunID, events[b].RunID) })
	var runs []ExternalRun
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		runs = runs[:0]
		state := map[string]Task{}
		for _, i := range order {
			e := events[i]
			t, seen := state[e.RunID]
			if !seen {
				var err error
				if t, err = externalTask(ctx, tx, tenantID, actor, e, now); err != nil {
					return fmt.Errorf("event %d: %w", i, err)
				}
			}
			t, err := applyExternalEvent(ctx, tx, t, actor, e, now)
			if err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
			state[e.RunID] = t
		}
		seen := map[string]bool{}
		for _, e := range events {
			if !seen[e.RunID] {
				seen[e.RunID] = true
				t := state[e.RunID]
				runs = append(runs, ExternalRun{RunID: e.RunID, TaskID: t.ID, Status: t.Status})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
}

// validExternalEvent checks e and fills in its defaults.
func validExternalEvent(e *ExternalEvent, now time.Time) error {
	switch e.Kind {
	case FlowStarted, FlowCompleted, NodeLog:
	case NodeStarted, NodeOK, NodeErr:
		if e.Node == "" {
			return fmt.Errorf("%s needs a task node", e.Kind)
		}
	default:
		return fmt.Errorf("unknown event type %q", e.Kind)
	}
	if e.RunID == "" || e.Flow == "" {
		return errors.New("an event needs a run_id and a flow")
	}
	if e.Duration < 0 {
		return errors.New("a duration cannot be negative")
	}
	if e.At.IsZero() {
		e.At = now
	}
	e.NodeRunID = cmp.Or(e.NodeRunID, e.Node)
	e.Level = cmp.Or(e.Level, "info")
	e.Error, e.Message = cleanText(e.Error), cleanText(e.Message)
	e.Payload = cleanJSON(e.Payload)
	return nil
}

// externalTask returns the task of e's run, locked until tx ends, created
// (running, with its task_created audit row and "created" event) if new. A
// run reported late is created when its first event says, so that it is
// listed among the tasks of its time; a run cannot end before it was created,
// so an end reported earlier than that (a client's clock behind) is taken as
// the creation.
func externalTask(ctx context.Context, tx pgx.Tx, tenantID, actor string, e ExternalEvent, now time.Time) (Task, error) {
	id := ExternalTaskID(tenantID, e.RunID)
	t, err := scanTask(tx.QueryRow(ctx, insertExternalTask, id, tenantID, e.Flow, e.RunID, e.TraceID, now, e.At.Add(-e.Duration)))
	if err == nil {
		if err := insertTaskAudit(ctx, tx, t, "task_created", actor, "", now, map[string]string{"type": t.Type, "source": string(SourceExternal)}); err != nil {
			return Task{}, err
		}
		return t, insertEvent(ctx, tx, id, "created", "created", statusPayload(t), now)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Task{}, fmt.Errorf("insert reported run: %w", err)
	}
	if t, err = scanTask(tx.QueryRow(ctx, lockExternalTask, id)); err != nil {
		return Task{}, fmt.Errorf("lock reported run: %w", err)
	}
	if t.TenantID != tenantID || t.Source != SourceExternal {
		return Task{}, fmt.Errorf("%w: run %q is not a reported run of this tenant", ErrConflict, e.RunID)
	}
	return t, nil
}

// applyExternalEvent records what e says of the run t and returns t as it is after.
func applyExternalEvent(ctx context.Context, tx pgx.Tx, t Task, actor string, e ExternalEvent, now time.Time) (Task, error) {
	switch e.Kind {
	case FlowStarted:
		t, err := scanTask(tx.QueryRow(ctx, startExternalTask, t.ID, e.At, nullJSON(e.Payload), e.TraceID, now))
		if err != nil {
			return Task{}, fmt.Errorf("start reported run: %w", err)
		}
		return t, insertEvent(ctx, tx, t.ID, "started", "started:external", statusPayload(t), e.At)
	case FlowCompleted:
		status := StatusCompleted
		if e.Error != "" {
			status = StatusFailed
		}
		ended, err := scanTask(tx.QueryRow(ctx, finishExternalTask, t.ID, status, nullJSON(e.Payload), e.Error, e.At, e.At.Add(-e.Duration), now))
		if errors.Is(err, pgx.ErrNoRows) {
			return t, nil // it had ended
		}
		if err != nil {
			return Task{}, fmt.Errorf("finish reported run: %w", err)
		}
		var meta map[string]string
		if e.Error != "" {
			meta = map[string]string{"error": e.Error}
		}
		if err := insertTaskAudit(ctx, tx, ended, "task_"+string(status), actor, "", now, meta); err != nil {
			return Task{}, err
		}
		return ended, insertEvent(ctx, tx, t.ID, string(status), string(status)+":external", statusPayload(ended), e.At)
	case NodeLog:
		return t, insertEvent(ctx, tx, t.ID, "log", "log:"+logLineID(e), LogLine{
			Level: e.Level, Message: e.Message, Node: e.Node, Attrs: e.Payload}, e.At)
	}
	st := Subtask{ID: uuid.New(), TaskID: t.ID, Key: e.NodeRunID, StepID: e.Node, Status: StatusRunning}
	started := &e.At
	var finished *time.Time
	if e.Kind != NodeStarted {
		st.Status, st.Output, finished = StatusCompleted, e.Payload, &e.At
		if e.Kind == NodeErr {
			st.Status = StatusFailed
			st.Error = cmp.Or(e.Error, "failed")
		}
		started = nil
		if e.Duration > 0 {
			began := e.At.Add(-e.Duration)
			started = &began
		}
	}
	st, err := scanSubtask(tx.QueryRow(ctx, upsertExternalSubtask, st.ID, st.TaskID, st.Key, st.StepID, st.Status,
		now, started, finished, nullJSON(st.Output), st.Error))
	if err != nil {
		return Task{}, fmt.Errorf("record reported task node: %w", err)
	}
	kind := "subtask_started"
	if e.Kind != NodeStarted {
		kind = "subtask_" + string(st.Status)
	}
	return t, insertEvent(ctx, tx, t.ID, kind, kind+":"+st.Key, subtaskPayload(st), e.At)
}

// logLineID is the id of a reported log line: the client's, else a hash of the line.
func logLineID(e ExternalEvent) string {
	if e.ID != "" {
		return e.ID
	}
	h := sha256.New()
	for _, part := range []string{e.NodeRunID, e.At.UTC().Format(time.RFC3339Nano), e.Level, e.Message, string(e.Payload)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
