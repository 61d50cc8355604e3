package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestStats(t *testing.T) {
	b := setup(t)
	before := b.createTask(t, store.NewTask{Type: "summarize"}) // created before the window
	require.NoError(t, b.store.StartTask(b.ctx, before.ID, "r"))
	b.clock.Advance(time.Hour)
	from := b.clock.Now()
	// Durations 10 s, 20 s, ..., 100 s; every third fails.
	for i := range 10 {
		task := b.createTask(t, store.NewTask{Type: "summarize", Model: "gpt-4o"})
		require.NoError(t, b.store.StartTask(b.ctx, task.ID, "r"))
		require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: task.ID, CallKey: "k", Attempt: 1, Provider: "openai",
			Model: "gpt-4o", InputTokens: 100, OutputTokens: 10, CostUSD: 0.01}))
		b.clock.Advance(time.Duration(i+1) * 10 * time.Second)
		status, msg := store.StatusCompleted, ""
		if i%3 == 2 {
			status, msg = store.StatusFailed, "boom"
		}
		require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "r", status, nil, msg))
	}
	wf := b.createTask(t, store.NewTask{Type: "workflow:triage", Model: "mock"})
	require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: wf.ID, CallKey: "k", Attempt: 1, Provider: "openai",
		Model: "gpt-4o", StatusCode: 503, Error: "upstream"}))
	require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: before.ID, CallKey: "late", Attempt: 1, Provider: "mock",
		Model: "mock", InputTokens: 5, OutputTokens: 5}), "a call of an older task made in the window counts")
	foreign := b.createTask(t, store.NewTask{TenantID: "globex", Type: "summarize"})
	require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: foreign.ID, CallKey: "k", Attempt: 1, Provider: "openai", Model: "gpt-4o", CostUSD: 5}))
	b.clock.Advance(time.Second)

	st, err := b.store.Stats(b.ctx, "acme", from, b.clock.Now())
	require.NoError(t, err)
	require.Equal(t, []store.TypeStats{
		{Type: "summarize", ByStatus: map[store.Status]int64{store.StatusCompleted: 7, store.StatusFailed: 3}},
		{Type: "workflow:triage", ByStatus: map[store.Status]int64{store.StatusPending: 1}},
	}, st.Types, "tasks created in the window, this tenant's")
	require.Equal(t, int64(10), st.Durations.Count)
	require.InDelta(t, 55, st.Durations.P50, 0.01)
	require.InDelta(t, 95.5, st.Durations.P95, 0.01)
	require.InDelta(t, 99.1, st.Durations.P99, 0.01)
	require.Equal(t, []store.ModelStats{
		{Model: "gpt-4o", Calls: 11, Errors: 1, InputTokens: 1000, OutputTokens: 100, CostUSD: 0.1},
		{Model: "mock", Calls: 1, InputTokens: 5, OutputTokens: 5},
	}, st.Models)

	empty, err := b.store.Stats(b.ctx, "acme", b.clock.Now(), b.clock.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, empty.Types)
	require.Zero(t, empty.Durations)
	require.Empty(t, empty.Models)
	_, err = b.store.Stats(b.ctx, "acme", from, from)
	require.ErrorIs(t, err, store.ErrInvalid)
}
