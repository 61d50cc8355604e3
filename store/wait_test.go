package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestWaits(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	waitsOf := func(tenant string) []store.Wait {
		w, err := b.store.Waits(b.ctx, tenant, task.ID)
		require.NoError(t, err)
		return w
	}
	require.Empty(t, waitsOf("acme"))

	require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "approval_waiting", "approval_waiting:publish", map[string]any{"step": "publish", "signal": "publish_ok", "message": "Ship it?"}))
	require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "approval_waiting", "approval_waiting:loop/check#1", map[string]any{"step": "check", "signal": "check"}))
	require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "approval_answered", "approval_answered:loop/check#1", map[string]any{"step": "check", "approved": true}))
	b.clock.Advance(1)
	require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, CallID: "tc_1", Tool: "refund", Status: store.ToolCallPendingApproval}))
	require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, CallID: "tc_2", Tool: "lookup", Status: store.ToolCallRunning}))

	waits := waitsOf("acme")
	require.Len(t, waits, 2, "the answered step and the running call wait for nobody")
	require.Equal(t, store.Wait{Kind: store.WaitSignal, Signal: "publish_ok", Step: "publish", Message: "Ship it?", Since: waits[0].Since}, waits[0])
	require.Equal(t, store.Wait{Kind: store.WaitToolCall, CallID: "tc_1", Tool: "refund", Since: waits[1].Since}, waits[1])
	require.Empty(t, waitsOf("other"), "another tenant's task waits for nothing it can see")

	require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, CallID: "tc_1", Tool: "refund", Status: store.ToolCallRejected, DecidedBy: "ada"}))
	require.Len(t, waitsOf("acme"), 1)
}
