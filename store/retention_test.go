package store_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// detailTables are the tables retention empties for old finished tasks.
var detailTables = []string{"task_events", "llm_calls", "messages", "tool_calls"}

// withDetails creates a started task with three rows in each detail table and
// a blob of its own, and returns it with the blob's ref.
func (b bundle) withDetails(t *testing.T) (store.Task, string) {
	t.Helper()
	task := b.createTask(t, store.NewTask{})
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"))
	for i := range 3 {
		require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "note", fmt.Sprint("note-", i), map[string]int{"i": i}))
		require.NoError(t, b.store.RecordLLMCall(b.ctx, llmCall(task.ID, fmt.Sprint("call-", i), 1)))
		require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, CallID: fmt.Sprint("tool-", i), Tool: "echo", Status: store.ToolCallSucceeded}))
	}
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "main", 0, []json.RawMessage{
		json.RawMessage(`{"role":"user"}`), json.RawMessage(`{"role":"assistant"}`), json.RawMessage(`{"role":"user"}`),
	}))
	ref, err := b.store.PutBlob(b.ctx, task.ID, json.RawMessage(fmt.Sprintf(`{"task":%q}`, task.ID)))
	require.NoError(t, err)
	return task, ref
}

// details counts the detail rows of task, per table.
func (b bundle) details(t *testing.T, task store.Task) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, table := range detailTables {
		n[table] = b.count(t, table, "task_id = $1", task.ID)
	}
	return n
}

func TestRetention(t *testing.T) {
	b := setup(t)
	retention := 720 * time.Hour

	put := func(task store.Task, data string) string {
		t.Helper()
		ref, err := b.store.PutBlob(b.ctx, task.ID, json.RawMessage(data))
		require.NoError(t, err)
		return ref
	}

	// Finished long ago: its details go, its blob too.
	old, oldBlob := b.withDetails(t)
	kept := put(old, `{"large":"step output"}`)
	shared := put(old, `{"shared":true}`)
	require.NoError(t, b.store.FinishTask(b.ctx, old.ID, "run-1", store.StatusCompleted, json.RawMessage(`{"ok":true}`), ""))

	// Finished long ago too, but its output and a step's output refer to blobs
	// it stored (the first one stored by the first task as well): they stay.
	b.clock.Advance(time.Hour)
	referrer, _ := b.withDetails(t)
	require.Equal(t, kept, put(referrer, `{"large":"step output"}`))
	inStep := put(referrer, `{"large":"agent answer"}`)
	step, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: referrer.ID, Key: "step"})
	require.NoError(t, err)
	require.NoError(t, b.store.FinishSubtask(b.ctx, step.ID, store.StatusCompleted, "", json.RawMessage(`{"$ref":"`+inStep+`"}`), ""))
	b.clock.Advance(time.Hour)
	require.NoError(t, b.store.FinishTask(b.ctx, referrer.ID, "run-1", store.StatusCompleted, json.RawMessage(`{"report":{"$ref":"`+kept+`"}}`), ""))

	// Started long ago and still running: everything stays.
	running, runningBlob := b.withDetails(t)

	b.clock.Advance(retention + time.Hour)
	// A running task stores what an old one stored: the blob stays.
	require.Equal(t, shared, put(running, `{"shared":true}`))
	// Finished recently: everything stays.
	recent, recentBlob := b.withDetails(t)
	require.NoError(t, b.store.FinishTask(b.ctx, recent.ID, "run-1", store.StatusFailed, nil, "boom"))

	audit := b.count(t, "audit_logs", "true OR $1", true)
	before := map[uuid.UUID]map[string]int{}
	for _, task := range []store.Task{old, referrer, running, recent} {
		before[task.ID] = b.details(t, task)
		for table, n := range before[task.ID] {
			require.GreaterOrEqual(t, n, 3, table)
		}
	}

	// One batch deletes at most limit rows of each table.
	cutoff := b.clock.Now().Add(-retention)
	e, err := b.store.DeleteExpired(b.ctx, time.Time{}, cutoff, 2)
	require.NoError(t, err)
	require.Equal(t, store.Expired{TaskEvents: 2, LLMCalls: 2, Messages: 2, ToolCalls: 2, Blobs: 2}, e, "the blobs of both old tasks, not the one referred to")
	_, err = b.store.DeleteExpired(b.ctx, time.Time{}, cutoff, 0)
	require.ErrorIs(t, err, store.ErrInvalid)

	// A pass of the cleaner finishes the job, batch after batch.
	c := &store.Cleaner{Store: b.store, Retention: retention, BatchSize: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	require.NoError(t, c.Clean(b.ctx))

	for _, task := range []store.Task{old, referrer} {
		for table, n := range b.details(t, task) {
			require.Zero(t, n, "%s of a task finished before the retention", table)
		}
	}
	for _, task := range []store.Task{running, recent} {
		require.Equal(t, before[task.ID], b.details(t, task), "details of unfinished and recent tasks stay")
	}
	require.Equal(t, 4, b.count(t, "tasks", "id = ANY($1)", []uuid.UUID{old.ID, referrer.ID, running.ID, recent.ID}), "tasks stay")
	require.Equal(t, audit, b.count(t, "audit_logs", "true OR $1", true), "the audit log stays")

	_, err = b.store.GetBlob(b.ctx, oldBlob)
	require.ErrorIs(t, err, store.ErrNotFound, "an old blob nothing refers to goes")
	for _, ref := range []string{kept, inStep, shared, runningBlob, recentBlob} {
		_, err = b.store.GetBlob(b.ctx, ref)
		require.NoError(t, err, "blob %s stays", ref)
	}

	// Later passes find nothing more, and never touch what is kept.
	require.NoError(t, c.Clean(b.ctx))
	e, err = b.store.DeleteExpired(b.ctx, time.Time{}, cutoff, 2)
	require.NoError(t, err)
	require.Zero(t, e.Total())
}

func TestRetentionOneCleanerAtATime(t *testing.T) {
	b := setup(t)
	task, _ := b.withDetails(t)
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusCompleted, nil, ""))
	b.clock.Advance(2 * time.Hour)

	// Another cleaner's batch holds the lock.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	_, err = tx.Exec(b.ctx, `SELECT pg_advisory_xact_lock($1)`, int64(0x74726f7570650002))
	require.NoError(t, err)

	_, err = b.store.DeleteExpired(b.ctx, time.Time{}, b.clock.Now().Add(-time.Hour), 10)
	require.ErrorIs(t, err, store.ErrConflict)
	c := &store.Cleaner{Store: b.store, Retention: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	require.NoError(t, c.Clean(b.ctx), "a cleaner leaves the pass to the one at work")
	require.Equal(t, 3, b.count(t, "llm_calls", "task_id = $1", task.ID))

	require.NoError(t, tx.Rollback(b.ctx))
	require.NoError(t, c.Clean(b.ctx))
	require.Zero(t, b.count(t, "llm_calls", "task_id = $1", task.ID))
}
