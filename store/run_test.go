package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// A run that a reset started records its own steps, tool calls and
// approvals, takes the task over with its first step, and only it waits.
func TestResetRunRecordsItsOwnSteps(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:publish"})
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"))

	step := func(run string) store.Subtask {
		st, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, RunID: run, Key: "draft", StepID: "draft"})
		require.NoError(t, err)
		return st
	}
	old := step("run-1")
	require.NoError(t, b.store.FinishSubtask(b.ctx, old.ID, store.StatusCompleted, "", nil, ""))
	require.NoError(t, b.store.AppendRunEvent(b.ctx, task.ID, "run-1", "approval_waiting", "approval_waiting:ok", map[string]any{"step": "ok", "signal": "ok"}))
	require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, RunID: "run-1", CallID: "tc_1", Tool: "refund", Status: store.ToolCallPendingApproval}))
	waits, err := b.store.Waits(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, waits, 2)

	// The reset run starts past StartTask: its first step takes the task over.
	now := step("run-2")
	require.NotEqual(t, old.ID, now.ID)
	require.Equal(t, "run-2", now.RunID)
	require.Equal(t, now, step("run-2"), "a retry returns the run's subtask")
	got, err := b.store.GetTask(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, "run-2", got.RunID)
	require.Equal(t, store.StatusRunning, got.Status)

	waits, err = b.store.Waits(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Empty(t, waits, "the waits of the replaced run are over")
	require.NoError(t, b.store.AppendRunEvent(b.ctx, task.ID, "run-2", "approval_waiting", "approval_waiting:ok", map[string]any{"step": "ok", "signal": "ok"}))
	require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, RunID: "run-2", CallID: "tc_1", Tool: "refund", Status: store.ToolCallPendingApproval}))
	waits, err = b.store.Waits(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, waits, 2, "the new run waits for its own approval and call")
	call, err := b.store.GetToolCall(b.ctx, "acme", task.ID, "tc_1")
	require.NoError(t, err)
	require.Equal(t, "run-2", call.RunID, "a call id names the latest run's call")

	subtasks, err := b.store.ListSubtasks(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, subtasks, 2)
	require.Equal(t, 2, b.count(t, "task_events", "task_id = $1 AND kind = 'approval_waiting'", task.ID))
	require.Equal(t, 2, b.count(t, "task_events", "task_id = $1 AND kind = 'subtask_started'", task.ID))
	require.Equal(t, 2, b.count(t, "tool_calls", "task_id = $1", task.ID))

	// A late write of the replaced run does not take the task back.
	require.NoError(t, b.store.FinishSubtask(b.ctx, old.ID, store.StatusCanceled, "", nil, "late"))
	got, err = b.store.GetTask(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, "run-2", got.RunID)
}

func TestListRuns(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:publish"})
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusFailed, nil, "step two: refused"))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-2"))

	runs, err := b.store.ListRuns(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, "run-1", runs[0].RunID)
	require.Equal(t, store.StatusFailed, runs[0].Status)
	require.Equal(t, "step two: refused", runs[0].Error)
	require.NotNil(t, runs[0].EndedAt)
	require.Equal(t, store.Run{RunID: "run-2", StartedAt: runs[1].StartedAt}, runs[1], "still running")

	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-2", store.StatusCompleted, nil, ""))
	runs, err = b.store.ListRuns(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, runs[1].Status)
	_, err = b.store.ListRuns(b.ctx, "other", task.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}
