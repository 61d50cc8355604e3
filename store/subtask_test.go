package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestStartSubtaskIdempotent(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:refine"})

	in := store.Subtask{
		TaskID: task.ID, Key: "refine/research#2", StepID: "research", Agent: "researcher",
		Iteration: 2, Model: "gpt-4o", Input: json.RawMessage(`{"q":"x"}`), WorkflowID: "task-x/research-2",
	}
	st, err := b.store.StartSubtask(b.ctx, in)
	require.NoError(t, err)
	require.NotEqual(t, uuid.Nil, st.ID)
	require.Equal(t, store.StatusRunning, st.Status)
	require.Equal(t, "refine/research#2", st.Key)
	require.Equal(t, "research", st.StepID)
	require.Equal(t, "researcher", st.Agent)
	require.Equal(t, 2, st.Iteration)
	require.Equal(t, "gpt-4o", st.Model)
	require.JSONEq(t, `{"q":"x"}`, string(st.Input))
	require.Equal(t, "task-x/research-2", st.WorkflowID)
	require.True(t, st.StartedAt.Equal(b.clock.Now()))

	b.clock.Advance(time.Second)
	again, err := b.store.StartSubtask(b.ctx, in)
	require.NoError(t, err)
	require.Equal(t, st, again, "a retry returns the stored subtask")
	require.Equal(t, 1, b.count(t, "subtasks", "task_id = $1", task.ID))

	_, err = b.store.StartSubtask(b.ctx, store.Subtask{TaskID: uuid.New(), Key: "a"})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID})
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestFinishSubtask(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:refine"})
	first, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "draft#1", StepID: "draft"})
	require.NoError(t, err)
	second, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "review#1", StepID: "review"})
	require.NoError(t, err)

	b.clock.Advance(time.Second)
	finishedAt := b.clock.Now()
	require.NoError(t, b.store.FinishSubtask(b.ctx, first.ID, store.StatusCompleted, "gpt-4o", json.RawMessage(`{"text":"draft"}`), ""))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.FinishSubtask(b.ctx, first.ID, store.StatusFailed, "", nil, "late retry"), "already terminal")
	require.NoError(t, b.store.FinishSubtask(b.ctx, second.ID, store.StatusFailed, "", nil, "refused"))

	subtasks, err := b.store.ListSubtasks(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, subtasks, 2)
	require.Equal(t, first.ID, subtasks[0].ID)
	require.Less(t, subtasks[0].Seq, subtasks[1].Seq)
	require.Equal(t, store.StatusCompleted, subtasks[0].Status)
	require.Equal(t, "gpt-4o", subtasks[0].Model)
	require.JSONEq(t, `{"text":"draft"}`, string(subtasks[0].Output))
	require.Empty(t, subtasks[0].Error)
	require.True(t, subtasks[0].FinishedAt.Equal(finishedAt))
	require.Equal(t, store.StatusFailed, subtasks[1].Status)
	require.Equal(t, "refused", subtasks[1].Error)

	events, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"created", "subtask_started", "subtask_started", "subtask_completed", "subtask_failed"}, kinds)
	require.JSONEq(t, `{"subtask_id":"`+second.ID.String()+`","key":"review#1","step_id":"review","iteration":0,"status":"failed","error":"refused"}`,
		string(events[4].Payload))

	require.ErrorIs(t, b.store.FinishSubtask(b.ctx, uuid.New(), store.StatusCompleted, "", nil, ""), store.ErrNotFound)
	require.ErrorIs(t, b.store.FinishSubtask(b.ctx, first.ID, store.StatusPending, "", nil, ""), store.ErrInvalid)
}
