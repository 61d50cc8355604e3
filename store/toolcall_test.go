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

func toolCall(taskID uuid.UUID, callID string, status store.ToolCallStatus) store.ToolCall {
	return store.ToolCall{
		TaskID: taskID, CallID: callID, Tool: "lookup_order", Status: status,
		Arguments: json.RawMessage(`{"order_id":"A-1"}`), WorkflowID: "task-" + taskID.String(),
	}
}

// toolEvents returns the kinds and payloads of the task's tool call events.
func (b bundle) toolEvents(t *testing.T, taskID uuid.UUID) ([]string, []map[string]any) {
	t.Helper()
	events, err := b.store.ListEvents(b.ctx, "acme", taskID, 0, 0)
	require.NoError(t, err)
	var kinds []string
	var payloads []map[string]any
	for _, e := range events {
		if e.Kind == "created" {
			continue
		}
		var p map[string]any
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		kinds = append(kinds, e.Kind)
		payloads = append(payloads, p)
	}
	return kinds, payloads
}

func TestRecordToolCallLifecycle(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})

	pending := toolCall(task.ID, "call_1", store.ToolCallPendingApproval)
	require.NoError(t, b.store.RecordToolCall(b.ctx, pending))
	require.NoError(t, b.store.RecordToolCall(b.ctx, pending), "retried record")

	b.clock.Advance(time.Minute)
	running := toolCall(task.ID, "call_1", store.ToolCallRunning)
	running.Arguments = json.RawMessage(`{"order_id":"changed"}`)
	running.Attempts, running.DecidedBy, running.Comment = 1, "apikey:ops", "go ahead"
	require.NoError(t, b.store.RecordToolCall(b.ctx, running))
	running.Attempts = 2
	require.NoError(t, b.store.RecordToolCall(b.ctx, running), "the same status again updates attempts")

	b.clock.Advance(time.Second)
	done := toolCall(task.ID, "call_1", store.ToolCallSucceeded)
	done.Result, done.Attempts, done.LatencyMS = json.RawMessage(`{"status":"shipped"}`), 2, 850
	require.NoError(t, b.store.RecordToolCall(b.ctx, done))
	require.NoError(t, b.store.RecordToolCall(b.ctx, done), "retried record")

	got, err := b.store.GetToolCall(b.ctx, "acme", task.ID, "call_1")
	require.NoError(t, err)
	require.Equal(t, store.ToolCallSucceeded, got.Status)
	require.JSONEq(t, `{"order_id":"A-1"}`, string(got.Arguments), "arguments are those of the first record")
	require.JSONEq(t, `{"status":"shipped"}`, string(got.Result))
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, int64(850), got.LatencyMS)
	require.Equal(t, "apikey:ops", got.DecidedBy)
	require.Equal(t, "go ahead", got.Comment)
	require.Equal(t, "task-"+task.ID.String(), got.WorkflowID)
	start := b.clock.Now().Add(-time.Minute - time.Second)
	require.True(t, got.CreatedAt.Equal(start), got.CreatedAt)
	require.True(t, got.UpdatedAt.Equal(b.clock.Now()))
	require.NotNil(t, got.FinishedAt, "a call that ends without a finish time ends now")
	require.True(t, got.FinishedAt.Equal(b.clock.Now()))
	require.Equal(t, 1, b.count(t, "tool_calls", "task_id = $1", task.ID))

	kinds, payloads := b.toolEvents(t, task.ID)
	require.Equal(t, []string{"tool_call.waiting", "tool_call.started", "tool_call.finished"}, kinds, "one event per status")
	require.Equal(t, "call_1", payloads[2]["call_id"])
	require.Equal(t, "lookup_order", payloads[2]["tool"])
	require.Equal(t, "succeeded", payloads[2]["status"])
	require.EqualValues(t, 850, payloads[2]["latency_ms"])
	require.Equal(t, "apikey:ops", payloads[2]["decided_by"])
	require.NotContains(t, payloads[2], "arguments")
	require.NotContains(t, payloads[2], "result")
}

func TestRecordToolCallNeverRegresses(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})

	failed := toolCall(task.ID, "call_f", store.ToolCallFailed)
	failed.Error, failed.Attempts = "HTTP 404: no such order", 1
	require.NoError(t, b.store.RecordToolCall(b.ctx, failed), "a call may be recorded ended at once")

	late := toolCall(task.ID, "call_f", store.ToolCallRunning)
	late.Attempts = 7
	require.NoError(t, b.store.RecordToolCall(b.ctx, late), "a late record of an earlier status is no error")
	ended := toolCall(task.ID, "call_f", store.ToolCallSucceeded)
	ended.Result = json.RawMessage(`"other"`)
	require.NoError(t, b.store.RecordToolCall(b.ctx, ended), "an ended call never changes")

	got, err := b.store.GetToolCall(b.ctx, "acme", task.ID, "call_f")
	require.NoError(t, err)
	require.Equal(t, store.ToolCallFailed, got.Status)
	require.Equal(t, "HTTP 404: no such order", got.Error)
	require.Equal(t, 1, got.Attempts)
	require.Nil(t, got.Result)

	// A running call goes back neither to waiting nor to rejected.
	require.NoError(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, "call_r", store.ToolCallRunning)))
	require.NoError(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, "call_r", store.ToolCallPendingApproval)))
	require.ErrorIs(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, "call_r", store.ToolCallRejected)), store.ErrConflict)
	got, err = b.store.GetToolCall(b.ctx, "acme", task.ID, "call_r")
	require.NoError(t, err)
	require.Equal(t, store.ToolCallRunning, got.Status)
	require.Nil(t, got.FinishedAt)

	// A waiting call may be rejected.
	require.NoError(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, "call_x", store.ToolCallPendingApproval)))
	rejected := toolCall(task.ID, "call_x", store.ToolCallRejected)
	rejected.DecidedBy, rejected.Comment, rejected.Error = "apikey:ops", "not this one", "rejected"
	require.NoError(t, b.store.RecordToolCall(b.ctx, rejected))

	kinds, _ := b.toolEvents(t, task.ID)
	require.Equal(t, []string{"tool_call.finished", "tool_call.started", "tool_call.waiting", "tool_call.finished"}, kinds)
}

func TestRecordToolCallConcurrentRetries(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	statuses := []store.ToolCallStatus{store.ToolCallRunning, store.ToolCallSucceeded}
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() { errs[i] = b.store.RecordToolCall(b.ctx, toolCall(task.ID, "call_c", statuses[i%2])) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got, err := b.store.GetToolCall(b.ctx, "acme", task.ID, "call_c")
	require.NoError(t, err)
	require.Equal(t, store.ToolCallSucceeded, got.Status, "whatever the order, the call ends succeeded")
	require.Equal(t, 1, b.count(t, "tool_calls", "task_id = $1", task.ID))
	require.LessOrEqual(t, b.count(t, "task_events", "task_id = $1 AND kind = 'tool_call.started'", task.ID), 1)
	require.Equal(t, 1, b.count(t, "task_events", "task_id = $1 AND kind = 'tool_call.finished'", task.ID))
}

func TestRecordToolCallSubtaskAndChecks(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{Type: "workflow:review"})
	other := b.createTask(t, store.NewTask{Type: "workflow:review"})
	st, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "research#1", StepID: "research", Agent: "researcher"})
	require.NoError(t, err)

	c := toolCall(task.ID, "call_s", store.ToolCallRunning)
	c.SubtaskID = &st.ID
	require.NoError(t, b.store.RecordToolCall(b.ctx, c))
	got, err := b.store.GetToolCall(b.ctx, "acme", task.ID, "call_s")
	require.NoError(t, err)
	require.Equal(t, st.ID, *got.SubtaskID)
	_, payloads := b.toolEvents(t, task.ID)
	require.Equal(t, st.ID.String(), payloads[len(payloads)-1]["subtask_id"])

	elsewhere := toolCall(other.ID, "call_s", store.ToolCallRunning)
	elsewhere.SubtaskID = &st.ID
	require.ErrorIs(t, b.store.RecordToolCall(b.ctx, elsewhere), store.ErrNotFound, "a subtask of another task")
	require.ErrorIs(t, b.store.RecordToolCall(b.ctx, toolCall(uuid.New(), "call_s", store.ToolCallRunning)), store.ErrNotFound)
	require.ErrorIs(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, "", store.ToolCallRunning)), store.ErrInvalid)
	require.ErrorIs(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, "call_z", "done")), store.ErrInvalid)
}

func TestToolCallsAreTenantIsolated(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	for _, id := range []string{"call_b", "call_a"} {
		require.NoError(t, b.store.RecordToolCall(b.ctx, toolCall(task.ID, id, store.ToolCallRunning)))
	}

	calls, err := b.store.ListToolCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 2)
	require.Equal(t, "call_b", calls[0].CallID, "in the order first recorded")
	require.Equal(t, "call_a", calls[1].CallID)

	_, err = b.store.ListToolCalls(b.ctx, "globex", task.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.GetToolCall(b.ctx, "globex", task.ID, "call_a")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.GetToolCall(b.ctx, "acme", task.ID, "call_nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	empty, err := b.store.ListToolCalls(b.ctx, "acme", b.createTask(t, store.NewTask{}).ID)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestRecordToolCallStoresAnyText(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	c := toolCall(task.ID, "call_\x00nul", store.ToolCallFailed)
	c.Arguments = json.RawMessage(`{"path":"a\u0000b","lone":"\ud800x","pair":"\ud83d\ude00","kept":"\\u0000"}`)
	c.Result = json.RawMessage("{\"text\":\"bad \xff byte\"}")
	c.Error = "exit status 1: \x00\xfe"
	require.NoError(t, b.store.RecordToolCall(b.ctx, c))

	calls, err := b.store.ListToolCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	got := calls[0]
	require.Equal(t, "call_\uFFFDnul", got.CallID)
	require.Equal(t, "exit status 1: \uFFFD\uFFFD", got.Error)
	var args map[string]string
	require.NoError(t, json.Unmarshal(got.Arguments, &args))
	require.Equal(t, map[string]string{"path": "a\uFFFDb", "lone": "\uFFFDx", "pair": "😀", "kept": `\u0000`}, args)
	require.JSONEq(t, `{"text":"bad \uFFFD byte"}`, string(got.Result))

	notJSON := toolCall(task.ID, "call_text", store.ToolCallFailed)
	notJSON.Arguments = json.RawMessage(`{"order_id": "A-1"`) // a model's truncated arguments
	require.NoError(t, b.store.RecordToolCall(b.ctx, notJSON))
	got, err = b.store.GetToolCall(b.ctx, "acme", task.ID, "call_text")
	require.NoError(t, err)
	require.JSONEq(t, `"{\"order_id\": \"A-1\""`, string(got.Arguments), "kept as a JSON string")
}
