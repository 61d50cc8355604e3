package store_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func llmCall(taskID uuid.UUID, key string, attempt int) store.LLMCall {
	return store.LLMCall{
		TaskID:       taskID,
		CallKey:      key,
		Attempt:      attempt,
		Provider:     "openai",
		Model:        "gpt-4o-mini",
		Request:      json.RawMessage(`{"messages":[{"role":"user","content":"hi"}]}`),
		Response:     json.RawMessage(`{"content":"hello","finish_reason":"stop"}`),
		InputTokens:  100,
		OutputTokens: 20,
		CostUSD:      0.0015,
		LatencyMS:    850,
		StatusCode:   200,
	}
}

func TestRecordLLMCallOnce(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})

	call := llmCall(task.ID, "task-x/run-1/5", 1)
	require.NoError(t, b.store.RecordLLMCall(b.ctx, call))
	require.NoError(t, b.store.RecordLLMCall(b.ctx, call), "retried record")

	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, int64(100), got.InputTokens)
	require.Equal(t, int64(20), got.OutputTokens)
	require.InDelta(t, 0.0015, got.CostUSD, 1e-12)
	require.Equal(t, "gpt-4o-mini", got.Model, "a task created without a model takes its first call's")

	// A second attempt of the same call is another row, and counts.
	failed := llmCall(task.ID, "task-x/run-1/5", 2)
	failed.Response, failed.StatusCode, failed.Error = nil, 0, "connection reset"
	failed.InputTokens, failed.OutputTokens, failed.CostUSD = 0, 0, 0
	require.NoError(t, b.store.RecordLLMCall(b.ctx, failed))
	require.NoError(t, b.store.RecordLLMCall(b.ctx, llmCall(task.ID, "task-x/run-1/9", 1)))

	got, err = b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, int64(200), got.InputTokens)
	require.Equal(t, int64(40), got.OutputTokens)
	require.InDelta(t, 0.003, got.CostUSD, 1e-12)

	calls, err := b.store.ListLLMCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 3)
	require.Equal(t, 1, calls[0].Attempt)
	require.Equal(t, "openai", calls[0].Provider)
	require.JSONEq(t, string(call.Request), string(calls[0].Request))
	require.JSONEq(t, string(call.Response), string(calls[0].Response))
	require.Equal(t, 200, calls[0].StatusCode)
	require.Equal(t, int64(850), calls[0].LatencyMS)
	require.True(t, calls[0].CreatedAt.Equal(b.clock.Now()))
	require.Nil(t, calls[0].SubtaskID)
	require.Equal(t, 2, calls[1].Attempt)
	require.Equal(t, "connection reset", calls[1].Error)
	require.Equal(t, 0, calls[1].StatusCode)
	require.Nil(t, calls[1].Response)

	events, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, 4, "created and one llm_call event per recorded attempt")
	require.Equal(t, "llm_call", events[1].Kind)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(events[1].Payload, &payload))
	require.Equal(t, "task-x/run-1/5", payload["call_key"])
	require.EqualValues(t, 100, payload["input_tokens"])
	require.NotContains(t, payload, "request", "events carry no messages")
}

func TestRecordLLMCallConcurrentRetries(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = b.store.RecordLLMCall(b.ctx, llmCall(task.ID, "k", 1)) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, int64(100), got.InputTokens)
	require.Equal(t, 1, b.count(t, "llm_calls", "task_id = $1", task.ID))
}

func TestRecordLLMCallSubtaskTotals(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:review"})
	research, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "research#1", StepID: "research", Agent: "researcher"})
	require.NoError(t, err)
	write, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "write#1", StepID: "write", Agent: "writer"})
	require.NoError(t, err)

	for i, st := range []store.Subtask{research, research, write} {
		call := llmCall(task.ID, "call-"+st.Key, i)
		call.SubtaskID = &st.ID
		require.NoError(t, b.store.RecordLLMCall(b.ctx, call))
		require.NoError(t, b.store.RecordLLMCall(b.ctx, call), "retried record")
	}

	subtasks, err := b.store.ListSubtasks(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, subtasks, 2)
	require.Equal(t, int64(200), subtasks[0].InputTokens)
	require.Equal(t, int64(40), subtasks[0].OutputTokens)
	require.InDelta(t, 0.003, subtasks[0].CostUSD, 1e-12)
	require.Equal(t, "gpt-4o-mini", subtasks[0].Model)
	require.Equal(t, int64(100), subtasks[1].InputTokens)

	got, err := b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, int64(300), got.InputTokens)
	require.Equal(t, int64(60), got.OutputTokens)
	require.InDelta(t, 0.0045, got.CostUSD, 1e-12)

	calls, err := b.store.ListLLMCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 3)
	require.Equal(t, &research.ID, calls[0].SubtaskID)

	// A subtask of another task is refused, and nothing is counted.
	other := b.createTask(t, store.NewTask{})
	call := llmCall(other.ID, "stray", 1)
	call.SubtaskID = &research.ID
	require.ErrorIs(t, b.store.RecordLLMCall(b.ctx, call), store.ErrInvalid)
	require.Equal(t, 0, b.count(t, "llm_calls", "task_id = $1", other.ID))
}

func TestRecordLLMCallErrors(t *testing.T) {
	b := setup(t)
	require.ErrorIs(t, b.store.RecordLLMCall(b.ctx, llmCall(uuid.New(), "k", 1)), store.ErrNotFound)
	require.ErrorIs(t, b.store.RecordLLMCall(b.ctx, llmCall(uuid.New(), "", 1)), store.ErrInvalid)
}

func TestListLLMCallsTenantIsolation(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{TenantID: "acme"})
	require.NoError(t, b.store.RecordLLMCall(b.ctx, llmCall(task.ID, "k", 1)))

	_, err := b.store.ListLLMCalls(b.ctx, "globex", task.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.ListLLMCalls(b.ctx, "acme", uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.ListSubtasks(b.ctx, "globex", task.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.ListEvents(b.ctx, "globex", task.ID, 0, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
}
