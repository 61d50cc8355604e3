package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestCosts(t *testing.T) {
	b := setup(t)
	day1 := b.clock.Now()
	spend := func(nt store.NewTask, tokens int64, cost float64) {
		t.Helper()
		task := b.createTask(t, nt)
		call := llmCall(task.ID, "k", 1)
		call.Model = nt.Model
		call.InputTokens, call.OutputTokens, call.CostUSD = tokens, tokens/10, cost
		require.NoError(t, b.store.RecordLLMCall(b.ctx, call))
	}
	spend(store.NewTask{TenantID: "acme", UserIDHash: "alice", Model: "gpt-4o", Type: "summarize"}, 100, 0.5)
	spend(store.NewTask{TenantID: "acme", UserIDHash: "bob", Model: "gpt-4o", Type: "summarize"}, 200, 1.25)
	spend(store.NewTask{TenantID: "acme", UserIDHash: "alice", Model: "mock", Type: "workflow:review"}, 50, 0)
	b.clock.Advance(24 * time.Hour)
	spend(store.NewTask{TenantID: "acme", UserIDHash: "alice", Model: "gpt-4o", Type: "summarize"}, 1000, 2)
	spend(store.NewTask{TenantID: "globex", UserIDHash: "carol", Model: "gpt-4o", Type: "summarize"}, 10, 0.25)

	rows, err := b.store.Costs(b.ctx, "acme", []string{"model"}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, map[string]string{"model": "gpt-4o"}, rows[0].Group)
	require.Equal(t, int64(1300), rows[0].InputTokens)
	require.Equal(t, int64(130), rows[0].OutputTokens)
	require.InDelta(t, 3.75, rows[0].CostUSD, 1e-9)
	require.Equal(t, int64(3), rows[0].Tasks)
	require.Equal(t, map[string]string{"model": "mock"}, rows[1].Group)
	require.Equal(t, int64(1), rows[1].Tasks)

	rows, err = b.store.Costs(b.ctx, "", []string{"tenant", "day"}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, map[string]string{"tenant": "acme", "day": "2025-03-01"}, rows[0].Group)
	require.Equal(t, int64(350), rows[0].InputTokens)
	require.Equal(t, map[string]string{"tenant": "acme", "day": "2025-03-02"}, rows[1].Group)
	require.Equal(t, map[string]string{"tenant": "globex", "day": "2025-03-02"}, rows[2].Group)

	rows, err = b.store.Costs(b.ctx, "acme", []string{"user", "type"}, day1, day1.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, map[string]string{"user": "alice", "type": "summarize"}, rows[0].Group)
	require.Equal(t, int64(100), rows[0].InputTokens, "the next day's task is outside the period")
	require.Equal(t, map[string]string{"user": "alice", "type": "workflow:review"}, rows[1].Group)
	require.Equal(t, map[string]string{"user": "bob", "type": "summarize"}, rows[2].Group)

	rows, err = b.store.Costs(b.ctx, "acme", nil, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Empty(t, rows[0].Group)
	require.Equal(t, int64(1350), rows[0].InputTokens)
	require.InDelta(t, 3.75, rows[0].CostUSD, 1e-9)
	require.Equal(t, int64(4), rows[0].Tasks)

	rows, err = b.store.Costs(b.ctx, uuid.NewString(), []string{"model"}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Empty(t, rows)

	_, err = b.store.Costs(b.ctx, "acme", []string{"planet"}, time.Time{}, time.Time{})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = b.store.Costs(b.ctx, "acme", []string{"day", "day"}, time.Time{}, time.Time{})
	require.ErrorIs(t, err, store.ErrInvalid)
}
