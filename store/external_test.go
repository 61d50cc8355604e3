package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestExternalRunOutOfOrderAndRepeated(t *testing.T) {
	b := setup(t)
	t0 := time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)
	ev := func(kind, node string, at time.Duration) store.ExternalEvent {
		return store.ExternalEvent{Kind: kind, RunID: "nightly-42", Flow: "etl", Node: node, At: t0.Add(at)}
	}
	ok := ev(store.NodeOK, "extract", 5*time.Second)
	ok.Duration = 4 * time.Second
	ok.Payload = json.RawMessage(`{"rows":12}`)
	fail := ev(store.NodeErr, "load", 9*time.Second)
	fail.Error = "disk full"
	line := ev(store.NodeLog, "load", 8*time.Second)
	line.Level, line.Message = "warn", "retrying load"
	done := ev(store.FlowCompleted, "", 10*time.Second)
	done.Error = "load failed"

	// The end of a node before its start, and the run's end before its
	// start; then everything again, in another order.
	batches := [][]store.ExternalEvent{
		{ok, line, ev(store.NodeStarted, "extract", time.Second)},
		{done, fail, ev(store.NodeStarted, "load", 6*time.Second), ev(store.FlowStarted, "", 0)},
		{ev(store.FlowStarted, "", 0), done, line, fail, ok, ev(store.NodeStarted, "extract", time.Second)},
	}
	var id string
	for _, batch := range batches {
		runs, err := b.store.RecordExternalEvents(b.ctx, "acme", "key:ci", batch)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, "nightly-42", runs[0].RunID)
		id = runs[0].TaskID.String()
	}

	task, err := b.store.GetTask(b.ctx, "acme", store.ExternalTaskID("acme", "nightly-42"))
	require.NoError(t, err)
	require.Equal(t, id, task.ID.String())
	require.Equal(t, store.SourceExternal, task.Source)
	require.Equal(t, "etl", task.Type)
	require.Equal(t, store.StatusFailed, task.Status)
	require.Equal(t, "load failed", task.Error)
	require.Equal(t, t0, task.StartedAt.UTC())
	require.Equal(t, t0.Add(10*time.Second), task.FinishedAt.UTC())

	subs, err := b.store.ListSubtasks(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Len(t, subs, 2)
	byKey := map[string]store.Subtask{}
	for _, st := range subs {
		byKey[st.Key] = st
	}
	require.Equal(t, store.StatusCompleted, byKey["extract"].Status)
	require.Equal(t, t0.Add(time.Second), byKey["extract"].StartedAt.UTC(), "the reported start beats the one the duration implies")
	require.JSONEq(t, `{"rows":12}`, string(byKey["extract"].Output))
	require.Equal(t, store.StatusFailed, byKey["load"].Status)
	require.Equal(t, "disk full", byKey["load"].Error)
	require.Equal(t, t0.Add(6*time.Second), byKey["load"].StartedAt.UTC())

	logs, err := b.store.ListLogs(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, logs, 1, "a line sent three times is kept once")
	require.Equal(t, "warn", logs[0].Level)
	require.Equal(t, "retrying load", logs[0].Message)
	require.Equal(t, "load", logs[0].Node)

	events, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, e := range events {
		kinds[e.Kind]++
	}
	require.Equal(t, map[string]int{"created": 1, "started": 1, "failed": 1, "subtask_started": 2,
		"subtask_completed": 1, "subtask_failed": 1, "log": 1}, kinds)

	// A later end does not change an ended run.
	late := ev(store.FlowCompleted, "", 20*time.Second)
	runs, err := b.store.RecordExternalEvents(b.ctx, "acme", "key:ci", []store.ExternalEvent{late})
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, runs[0].Status)
}

func TestExternalRunsAreTenantsOwn(t *testing.T) {
	b := setup(t)
	e := store.ExternalEvent{Kind: store.FlowStarted, RunID: "r1", Flow: "etl"}
	mine, err := b.store.RecordExternalEvents(b.ctx, "acme", "a", []store.ExternalEvent{e})
	require.NoError(t, err)
	theirs, err := b.store.RecordExternalEvents(b.ctx, "globex", "g", []store.ExternalEvent{e})
	require.NoError(t, err)
	require.NotEqual(t, mine[0].TaskID, theirs[0].TaskID, "the same run id in two tenants is two runs")

	_, err = b.store.GetTask(b.ctx, "globex", mine[0].TaskID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.ListLogs(b.ctx, "globex", mine[0].TaskID, 0, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
	list, _, err := b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "globex", Source: store.SourceExternal})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, theirs[0].TaskID, list[0].ID)
}

func TestExternalBatchIsAllOrNothing(t *testing.T) {
	b := setup(t)
	good := store.ExternalEvent{Kind: store.FlowStarted, RunID: "r1", Flow: "etl"}
	bad := store.ExternalEvent{Kind: store.NodeOK, RunID: "r2", Flow: "etl"} // no node
	_, err := b.store.RecordExternalEvents(b.ctx, "acme", "a", []store.ExternalEvent{good, bad})
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "event 1")
	list, _, err := b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Empty(t, list)
}
