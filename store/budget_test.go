package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// TestBudgetHoldsUnderConcurrentCalls reserves and records 20 calls at once against a budget
// with room for 5: when each costs what it reserved, the budget is never passed.
func TestBudgetHoldsUnderConcurrentCalls(t *testing.T) {
	b := setup(t)
	budget := 0.055
	require.NoError(t, b.store.SetBudget(b.ctx, "acme", "test", &budget))
	const calls, cost = 20, 0.01
	var wg sync.WaitGroup
	refused := make(chan error, calls)
	for i := range calls {
		task := b.createTask(t, store.NewTask{TenantID: "acme", Type: "chat", Actor: "test"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("call-%d", i)
			if err := b.store.ReserveBudget(b.ctx, "acme", key+"#1", cost, time.Minute); err != nil {
				refused <- err
				return
			}
			time.Sleep(20 * time.Millisecond) // the call
			require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: task.ID, CallKey: key, Attempt: 1,
				Provider: "openai", Model: "m", CostUSD: cost, StatusCode: 200}))
		}()
	}
	wg.Wait()
	close(refused)
	var n int
	for err := range refused {
		require.ErrorIs(t, err, store.ErrBudgetExceeded)
		require.ErrorContains(t, err, `tenant "acme"`)
		n++
	}
	require.Equal(t, calls-5, n, "5 calls fit the budget")
	got, err := b.store.GetBudget(b.ctx, "acme")
	require.NoError(t, err)
	require.InDelta(t, 0.05, got.SpentUSD, 1e-9)
	require.LessOrEqual(t, got.SpentUSD, budget)
	require.Zero(t, got.ReservedUSD, "every reservation is settled")
	require.Equal(t, 5, b.count(t, "llm_calls", "cost_usd > $1", 0))

	// The 80% mark was passed once (at $0.05 of $0.055, 91%), announced once.
	marks, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme", EventType: "budget_80"})
	require.NoError(t, err)
	require.Len(t, marks, 1)
	marks, _, err = b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme", EventType: "budget_100"})
	require.NoError(t, err)
	require.Empty(t, marks)
}

func TestBudgetReservationsExpireAndOtherTenantsAreFree(t *testing.T) {
	b := setup(t)
	budget := 1.0
	require.NoError(t, b.store.SetBudget(b.ctx, "acme", "test", &budget))
	task := b.createTask(t, store.NewTask{TenantID: "acme", Type: "chat", Actor: "test"})
	require.NoError(t, b.store.ReserveBudget(b.ctx, "acme", "lost#1", 0.9, time.Minute))
	require.ErrorIs(t, b.store.ReserveBudget(b.ctx, "acme", "next#1", 0.2, time.Minute), store.ErrBudgetExceeded,
		"a call in flight holds its reservation")
	b.clock.Advance(2 * time.Minute) // its worker died: the reservation expires
	require.NoError(t, b.store.ReserveBudget(b.ctx, "acme", "next#1", 0.2, time.Minute))

	require.NoError(t, b.store.ReserveBudget(b.ctx, "globex", "free#1", 1000, time.Minute), "a tenant without a budget has no limit")

	// Spending past 100% is announced, and removing the budget lifts the limit.
	require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: task.ID, CallKey: "big", Attempt: 1, Provider: "openai", Model: "m", CostUSD: 1.5, StatusCode: 200}))
	marks, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme", EventType: "budget_100"})
	require.NoError(t, err)
	require.Len(t, marks, 1)
	require.ErrorIs(t, b.store.ReserveBudget(b.ctx, "acme", "after#1", 0.01, time.Minute), store.ErrBudgetExceeded)
	require.NoError(t, b.store.SetBudget(b.ctx, "acme", "test", nil))
	require.NoError(t, b.store.ReserveBudget(b.ctx, "acme", "after#1", 0.01, time.Minute))
	got, err := b.store.GetBudget(b.ctx, "acme")
	require.NoError(t, err)
	require.Nil(t, got.MonthlyUSD)
	require.InDelta(t, 1.5, got.SpentUSD, 1e-9)

	globexBudget := 3.0
	require.NoError(t, b.store.SetBudget(b.ctx, "globex", "test", &globexBudget))
	all, err := b.store.ListBudgets(b.ctx)
	require.NoError(t, err)
	require.Len(t, all, 1, "only tenants with a budget")
	require.Equal(t, "globex", all[0].TenantID)
	require.Zero(t, all[0].ReservedUSD, "its call reserved nothing while it had no budget")
}
