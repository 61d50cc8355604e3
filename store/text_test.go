package store_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// Models and tools may answer with NUL bytes or invalid UTF-8, which Postgres refuses in text
// and jsonb; recording such an answer must not fail, or the answer is lost.
func TestOutcomesStoreAnyText(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:review"})
	require.NoError(t, b.store.StartTask(b.ctx, task.ID, "run-1"))

	call := llmCall(task.ID, "k", 1)
	call.Response = json.RawMessage(`{"content":"nul \u0000 here"}`)
	call.Error = "stream cut: \x00\xff"
	require.NoError(t, b.store.RecordLLMCall(b.ctx, call))
	calls, err := b.store.ListLLMCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.JSONEq(t, `{"content":"nul \uFFFD here"}`, string(calls[0].Response))
	require.Equal(t, "stream cut: \uFFFD\uFFFD", calls[0].Error)

	st, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "a#1", StepID: "a"})
	require.NoError(t, err)
	require.NoError(t, b.store.FinishSubtask(b.ctx, st.ID, store.StatusFailed, "", nil, "tool said \x00"))
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusCompleted, json.RawMessage(`{"text":"\u0000"}`), ""))

	got, err := b.store.GetTask(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.JSONEq(t, `{"text":"\uFFFD"}`, string(got.Output))
	subtasks, err := b.store.ListSubtasks(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, "tool said \uFFFD", subtasks[0].Error)

	require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "progress", "p", map[string]string{"note": "\x00"}))
	events, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	require.JSONEq(t, `{"note":"\uFFFD"}`, string(events[len(events)-1].Payload))
}
