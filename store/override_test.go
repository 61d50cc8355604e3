package store_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// TestCallTerms reads what a call must know before it is made: a retry's model for the
// calls of one workflow of the task only, and whether the task's tenant has a budget.
func TestCallTerms(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{TenantID: "acme", Type: "chat", Actor: "test"})
	wf := store.WorkflowID(task.ID)
	terms, err := b.store.CallTerms(b.ctx, task.ID, wf)
	require.NoError(t, err)
	require.Equal(t, store.CallTerms{Tenant: "acme"}, terms, "no override, no budget")

	require.NoError(t, b.store.SetModelOverride(b.ctx, task.ID, wf+"/review", "gpt-4o"))
	budget := 2.0
	require.NoError(t, b.store.SetBudget(b.ctx, "acme", "test", &budget))
	terms, err = b.store.CallTerms(b.ctx, task.ID, wf+"/review")
	require.NoError(t, err)
	require.Equal(t, store.CallTerms{Model: "gpt-4o", Tenant: "acme", Budgeted: true}, terms)
	terms, err = b.store.CallTerms(b.ctx, task.ID, wf)
	require.NoError(t, err)
	require.Empty(t, terms.Model, "the override is for the step's workflow only")

	require.NoError(t, b.store.SetModelOverride(b.ctx, task.ID, wf, ""))
	terms, err = b.store.CallTerms(b.ctx, task.ID, wf+"/review")
	require.NoError(t, err)
	require.Empty(t, terms.Model, "an empty model removes the overrides")

	_, err = b.store.CallTerms(b.ctx, uuid.New(), wf)
	require.ErrorIs(t, err, store.ErrNotFound)
}
