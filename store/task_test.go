package store_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestCreateTask(t *testing.T) {
	b := setup(t)
	parent := b.createTask(t, store.NewTask{})

	task, created, err := b.store.CreateTask(b.ctx, store.NewTask{
		TenantID:       "acme",
		UserIDHash:     "u1",
		Type:           "workflow:review",
		Input:          json.RawMessage(`{"doc": "x"}`),
		Model:          "gpt-4o-mini",
		Priority:       3,
		Metadata:       json.RawMessage(`{"source":"cli"}`),
		DefinitionHash: "abc123",
		Queue:          "gpu",
		Timeout:        90 * time.Second,
		ParentID:       &parent.ID,
		Actor:          "key:ops",
	})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, uuid.Nil, task.ID)
	require.Equal(t, store.StatusPending, task.Status)
	require.Equal(t, "task-"+task.ID.String(), task.WorkflowID)
	require.Equal(t, "acme", task.TenantID)
	require.Equal(t, "u1", task.UserIDHash)
	require.Equal(t, "workflow:review", task.Type)
	require.JSONEq(t, `{"doc":"x"}`, string(task.Input))
	require.Nil(t, task.Output)
	require.Equal(t, "gpt-4o-mini", task.Model)
	require.Equal(t, 3, task.Priority)
	require.JSONEq(t, `{"source":"cli"}`, string(task.Metadata))
	require.Equal(t, "abc123", task.DefinitionHash)
	require.Equal(t, "gpu", task.Queue)
	require.Equal(t, 90*time.Second, task.Timeout)
	require.Equal(t, "", parent.Queue, "no queue is the default queue")
	require.Zero(t, parent.Timeout)
	require.Equal(t, &parent.ID, task.ParentID)
	require.True(t, task.CreatedAt.Equal(b.clock.Now()))
	require.True(t, task.UpdatedAt.Equal(b.clock.Now()))
	require.Nil(t, task.StartedAt)
	require.Nil(t, task.FinishedAt)

	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, task, got)

	audits, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{ResourceID: task.ID.String()})
	require.NoError(t, err)
	require.Len(t, audits, 1)
	require.Equal(t, "task_created", audits[0].EventType)
	require.Equal(t, "task", audits[0].ResourceType)
	require.Equal(t, "acme", audits[0].TenantID)
	require.Equal(t, "u1", audits[0].UserIDHash)
	require.Equal(t, "key:ops", audits[0].Actor)
	require.Equal(t, "task_created:"+task.ID.String(), audits[0].DedupeKey)

	events, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "created", events[0].Kind)
	require.JSONEq(t, `{"status":"pending","type":"workflow:review"}`, string(events[0].Payload))
}

func TestCreateTaskValidates(t *testing.T) {
	b := setup(t)
	_, _, err := b.store.CreateTask(b.ctx, store.NewTask{Type: "summarize"})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = b.store.CreateTask(b.ctx, store.NewTask{TenantID: "acme"})
	require.ErrorIs(t, err, store.ErrInvalid)
	missing := uuid.New()
	_, _, err = b.store.CreateTask(b.ctx, store.NewTask{TenantID: "acme", Type: "summarize", ParentID: &missing})
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, missing.String())
}

func TestCreateTaskIdempotencyKey(t *testing.T) {
	b := setup(t)
	first := b.createTask(t, store.NewTask{IdempotencyKey: "req-1"})

	again, created, err := b.store.CreateTask(b.ctx, store.NewTask{TenantID: "acme", Type: "summarize", IdempotencyKey: "req-1"})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first, again)

	// The same key in another tenant is another task.
	other, created, err := b.store.CreateTask(b.ctx, store.NewTask{TenantID: "globex", Type: "summarize", IdempotencyKey: "req-1"})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, first.ID, other.ID)

	require.Equal(t, 1, b.count(t, "tasks", "tenant_id = $1", "acme"))
	require.Equal(t, 1, b.count(t, "audit_logs", "resource_id = $1", first.ID.String()))
	require.Equal(t, 1, b.count(t, "task_events", "task_id = $1", first.ID))
}

func TestCreateTaskSameID(t *testing.T) {
	b := setup(t)
	first := b.createTask(t, store.NewTask{})

	again, created, err := b.store.CreateTask(b.ctx, store.NewTask{ID: first.ID, TenantID: "acme", Type: "summarize"})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first, again)

	_, _, err = b.store.CreateTask(b.ctx, store.NewTask{ID: first.ID, TenantID: "globex", Type: "summarize"})
	require.ErrorIs(t, err, store.ErrConflict)
}

func TestCreateTaskConcurrentDuplicates(t *testing.T) {
	b := setup(t)
	const callers = 10
	tasks := make([]store.Task, callers)
	created := make([]bool, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			tasks[i], created[i], errs[i] = b.store.CreateTask(b.ctx, store.NewTask{
				TenantID: "acme", Type: "summarize", IdempotencyKey: "same", Input: json.RawMessage(`{}`),
			})
		})
	}
	wg.Wait()

	creations := 0
	for i := range callers {
		require.NoError(t, errs[i])
		require.Equal(t, tasks[0].ID, tasks[i].ID)
		if created[i] {
			creations++
		}
	}
	require.Equal(t, 1, creations)
	require.Equal(t, 1, b.count(t, "tasks", "tenant_id = $1", "acme"))
	require.Equal(t, 1, b.count(t, "audit_logs", "event_type = $1", "task_created"))
}

func TestGetTaskTenantIsolation(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{TenantID: "acme"})

	got, err := b.store.GetTask(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, task.ID, got.ID)

	_, err = b.store.GetTask(b.ctx, "globex", task.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.GetTask(b.ctx, "acme", uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.GetTaskByID(b.ctx, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestListTasksFilters(t *testing.T) {
	b := setup(t)
	start := b.clock.Now()
	summary := b.createTask(t, store.NewTask{Type: "summarize", UserIDHash: "alice"})
	b.clock.Advance(time.Minute)
	review := b.createTask(t, store.NewTask{Type: "workflow:review", UserIDHash: "bob"})
	b.clock.Advance(time.Minute)
	running := b.createTask(t, store.NewTask{Type: "summarize", UserIDHash: "bob"})
	require.NoError(t, b.store.StartTask(b.ctx, running.ID, "run-1"))
	b.createTask(t, store.NewTask{TenantID: "globex", Type: "summarize", UserIDHash: "bob"})

	ids := func(f store.TaskFilter) []uuid.UUID {
		t.Helper()
		tasks, next, err := b.store.ListTasks(b.ctx, f)
		require.NoError(t, err)
		require.Empty(t, next)
		out := []uuid.UUID{}
		for _, task := range tasks {
			out = append(out, task.ID)
		}
		return out
	}
	require.Equal(t, []uuid.UUID{running.ID, review.ID, summary.ID}, ids(store.TaskFilter{TenantID: "acme"}))
	require.Equal(t, []uuid.UUID{running.ID}, ids(store.TaskFilter{TenantID: "acme", Status: store.StatusRunning}))
	require.Equal(t, []uuid.UUID{running.ID, summary.ID}, ids(store.TaskFilter{TenantID: "acme", Type: "summarize"}))
	require.Equal(t, []uuid.UUID{running.ID, review.ID}, ids(store.TaskFilter{TenantID: "acme", UserIDHash: "bob"}))
	require.Equal(t, []uuid.UUID{running.ID, review.ID}, ids(store.TaskFilter{TenantID: "acme", CreatedAfter: start}))
	require.Equal(t, []uuid.UUID{summary.ID}, ids(store.TaskFilter{TenantID: "acme", CreatedBefore: start.Add(time.Minute)}))
	require.Equal(t, []uuid.UUID{}, ids(store.TaskFilter{TenantID: "initech"}))

	_, _, err := b.store.ListTasks(b.ctx, store.TaskFilter{})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme", Status: "done"})
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestListTasksPagination(t *testing.T) {
	b := setup(t)
	// 7 tasks share one created_at, so only the id breaks ties; 3 more are older.
	want := map[uuid.UUID]bool{}
	for range 3 {
		want[b.createTask(t, store.NewTask{}).ID] = true
	}
	b.clock.Advance(time.Second)
	for range 7 {
		want[b.createTask(t, store.NewTask{}).ID] = true
	}

	var pages [][]store.Task
	cursor := ""
	for {
		tasks, next, err := b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme", Limit: 3, Cursor: cursor})
		require.NoError(t, err)
		pages = append(pages, tasks)
		if next == "" {
			break
		}
		cursor = next
		require.Less(t, len(pages), 10, "pagination does not end")
	}
	require.Len(t, pages, 4)
	require.Len(t, pages[3], 1)

	seen := map[uuid.UUID]bool{}
	var previous *store.Task
	for _, p := range pages {
		for _, task := range p {
			require.False(t, seen[task.ID], "task listed twice")
			seen[task.ID] = true
			if previous != nil {
				// Newest first, then by id descending.
				order := previous.CreatedAt.After(task.CreatedAt) ||
					(previous.CreatedAt.Equal(task.CreatedAt) && previous.ID.String() > task.ID.String())
				require.True(t, order, "tasks out of order")
			}
			previous = &task
		}
	}
	require.Equal(t, want, seen)
}

func TestListTasksLimits(t *testing.T) {
	b := setup(t)
	for range 3 {
		b.createTask(t, store.NewTask{})
	}
	tasks, next, err := b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme", Limit: 2})
	require.NoError(t, err)
	require.Len(t, tasks, 2)
	require.NotEmpty(t, next)

	// A cursor applies to the tenant that asks: another tenant's listing stays empty.
	tasks, _, err = b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "globex", Cursor: next})
	require.NoError(t, err)
	require.Empty(t, tasks)

	tasks, next, err = b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, tasks, 3)
	require.Empty(t, next)
}

func TestListTasksInvalidCursor(t *testing.T) {
	b := setup(t)
	for _, c := range []string{"%%%", "bm90LWEtY3Vyc29y", "MjAyNS0wMy0wMVQxMjowMDowMFogbm90LWEtdXVpZA"} {
		_, _, err := b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme", Cursor: c})
		require.ErrorIs(t, err, store.ErrInvalidCursor, c)
		require.ErrorIs(t, err, store.ErrInvalid, c)
	}
}

func TestStartAndFinishTask(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{UserIDHash: "alice"})

	b.clock.Advance(time.Second)
	startedAt := b.clock.Now()
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"), "retried start")

	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, got.Status)
	require.Equal(t, "run-1", got.RunID)
	require.True(t, got.StartedAt.Equal(startedAt))

	b.clock.Advance(time.Second)
	finishedAt := b.clock.Now()
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusCompleted, json.RawMessage(`{"text":"done"}`), ""))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusCompleted, json.RawMessage(`{"text":"done"}`), ""), "retried finish")
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusFailed, nil, "late"), "finish after finish")
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"), "start after finish")

	got, err = b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.JSONEq(t, `{"text":"done"}`, string(got.Output))
	require.Empty(t, got.Error)
	require.Equal(t, "run-1", got.RunID)
	require.True(t, got.FinishedAt.Equal(finishedAt))
	require.True(t, got.UpdatedAt.Equal(finishedAt))

	audits, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme", ResourceID: task.ID.String()})
	require.NoError(t, err)
	var types []string
	for _, a := range audits {
		types = append(types, a.EventType)
		require.Equal(t, "alice", a.UserIDHash)
	}
	require.Equal(t, []string{"task_completed", "task_started", "task_created"}, types)
	require.Equal(t, "task_created:"+task.ID.String(), audits[2].DedupeKey)
	require.Equal(t, "task_started:"+task.ID.String()+":run-1", audits[1].DedupeKey)

	events, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"created", "started", "completed"}, kinds)
	require.JSONEq(t, `{"status":"completed","type":"summarize","run_id":"run-1"}`, string(events[2].Payload))
}

// TestTaskRunAgain covers an operator's `temporal workflow reset`: a new run
// of the workflow opens the task again, and its outcome replaces the first.
func TestTaskRunAgain(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"))
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusFailed, nil, "provider down"))

	// Reset to the first workflow task: the new run starts the task again.
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-2"))
	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, got.Status)
	require.Equal(t, "run-2", got.RunID)
	require.Empty(t, got.Error)
	require.Nil(t, got.FinishedAt)
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-2", store.StatusCompleted, json.RawMessage(`{"text":"ok"}`), ""))

	// Reset past the start: only the new run's finish is seen, and it wins.
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-3", store.StatusCompleted, json.RawMessage(`{"text":"again"}`), ""))
	got, err = b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, "run-3", got.RunID)
	require.JSONEq(t, `{"text":"again"}`, string(got.Output))

	audits, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{ResourceID: task.ID.String()})
	require.NoError(t, err)
	var types []string
	for _, a := range audits {
		types = append(types, a.EventType)
	}
	require.Equal(t, []string{"task_completed", "task_completed", "task_started", "task_failed", "task_started", "task_created"}, types)
}

func TestFinishTaskStatuses(t *testing.T) {
	b := setup(t)
	for _, status := range []store.Status{store.StatusFailed, store.StatusCanceled, store.StatusTimedOut} {
		task := b.createTask(t, store.NewTask{})
		require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run"))
		require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run", status, nil, "it broke"))

		got, err := b.store.GetTaskByID(b.ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, status, got.Status)
		require.Equal(t, "it broke", got.Error)
		require.Nil(t, got.Output)
		audits, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{ResourceID: task.ID.String(), EventType: "task_" + string(status)})
		require.NoError(t, err)
		require.Len(t, audits, 1)
		require.JSONEq(t, `{"error":"it broke"}`, string(audits[0].Metadata))
	}

	// A task canceled before it started.
	task := b.createTask(t, store.NewTask{})
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run", store.StatusCanceled, nil, ""))
	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, got.Status)
	require.Nil(t, got.StartedAt)

	require.ErrorIs(t, b.store.FinishTask(b.ctx, task.ID, "run", store.StatusRunning, nil, ""), store.ErrInvalid)
	require.ErrorIs(t, b.store.FinishTask(b.ctx, uuid.New(), "run", store.StatusCompleted, nil, ""), store.ErrNotFound)
	require.ErrorIs(t, b.store.StartTask(b.ctx, uuid.New(), "run"), store.ErrNotFound)
}

func TestDeleteTask(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{IdempotencyKey: "req-1", UserIDHash: "alice"})

	require.NoError(t, b.store.DeleteTask(b.ctx, task.ID))
	_, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, 0, b.count(t, "task_events", "task_id = $1", task.ID))
	require.ErrorIs(t, b.store.DeleteTask(b.ctx, task.ID), store.ErrNotFound)

	audits, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{ResourceID: task.ID.String()})
	require.NoError(t, err)
	require.Len(t, audits, 2)
	require.Equal(t, "task_start_failed", audits[0].EventType)
	require.Equal(t, "alice", audits[0].UserIDHash)
	require.Equal(t, "task_created", audits[1].EventType)

	// The idempotency key is free again, so the client's retry creates the task anew.
	again, created, err := b.store.CreateTask(b.ctx, store.NewTask{TenantID: "acme", Type: "summarize", IdempotencyKey: "req-1"})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, task.ID, again.ID)

	require.NoError(t, b.store.StartTask(b.ctx, again.ID, "run"))
	require.ErrorIs(t, b.store.DeleteTask(b.ctx, again.ID), store.ErrConflict)
}

// A task canceled while its start was in doubt stays canceled when its
// workflow starts after all; a task that ended in a run is opened again by a
// new run (a reset), as before.
func TestStartTaskKeepsATaskEndedBeforeStart(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "", store.StatusCanceled, nil, "canceled before its workflow started"))
	err := b.store.StartTask(b.ctx, task.ID, "run-late")
	require.ErrorIs(t, err, store.ErrEndedBeforeStart)
	require.ErrorIs(t, err, store.ErrConflict)
	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, got.Status)

	reset := b.createTask(t, store.NewTask{})
	require.NoError(t, b.store.StartTask(b.ctx, reset.ID, "run-1"))
	require.NoError(t, b.store.FinishTask(b.ctx, reset.ID, "run-1", store.StatusFailed, nil, "boom"))
	require.NoError(t, b.store.StartTask(b.ctx, reset.ID, "run-2"))
	got, err = b.store.GetTaskByID(b.ctx, reset.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, got.Status)

	require.ErrorIs(t, b.store.StartTask(b.ctx, uuid.New(), "run-1"), store.ErrNotFound)
}

func TestTaskOfWorkflow(t *testing.T) {
	id := uuid.New()
	for wid, want := range map[string]bool{
		store.WorkflowID(id):                  true,
		store.WorkflowID(id) + "/research#2":  true,
		store.WorkflowID(id) + "x":            false,
		"schedule-" + id.String():             false,
		"task-not-a-uuid-at-all-but-36-chars": false,
	} {
		got, ok := store.TaskOfWorkflow(wid)
		require.Equal(t, want, ok, wid)
		if want {
			require.Equal(t, id, got, wid)
		}
	}
}
