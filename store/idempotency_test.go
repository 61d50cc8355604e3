package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestCreateTaskIdempotencyKeyIsBoundToItsRequest(t *testing.T) {
	b := setup(t)
	first := b.createTask(t, store.NewTask{IdempotencyKey: "req-1", RequestHash: "hash-a"})

	again, created, err := b.store.CreateTask(b.ctx, store.NewTask{TenantID: "acme", Type: "summarize", IdempotencyKey: "req-1", RequestHash: "hash-a"})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first, again)

	_, _, err = b.store.CreateTask(b.ctx, store.NewTask{TenantID: "acme", Type: "summarize", IdempotencyKey: "req-1", RequestHash: "hash-b"})
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, `the Idempotency-Key "req-1" was used for another request`)

	// The key is the tenant's: another tenant's request with it is a new task.
	other, created, err := b.store.CreateTask(b.ctx, store.NewTask{TenantID: "globex", Type: "summarize", IdempotencyKey: "req-1", RequestHash: "hash-b"})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, first.ID, other.ID)
}
