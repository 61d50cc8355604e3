package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestListPendingTasks(t *testing.T) {
	b := setup(t)
	started := b.createTask(t, store.NewTask{})
	require.NoError(t, b.store.StartTask(b.ctx, started.ID, "run"))
	b.clock.Advance(time.Second)
	var want []uuid.UUID
	for _, tenant := range []string{"acme", "globex", "acme"} {
		want = append(want, b.createTask(t, store.NewTask{TenantID: tenant}).ID)
		b.clock.Advance(time.Second)
	}
	cutoff := b.clock.Now()
	b.clock.Advance(time.Second)
	b.createTask(t, store.NewTask{}) // too young

	var got []uuid.UUID
	var afterAt time.Time
	var afterID uuid.UUID
	for {
		page, err := b.store.ListPendingTasks(b.ctx, cutoff, afterAt, afterID, 2)
		require.NoError(t, err)
		for _, task := range page {
			require.Equal(t, store.StatusPending, task.Status)
			got = append(got, task.ID)
		}
		if len(page) < 2 {
			break
		}
		afterAt, afterID = page[len(page)-1].CreatedAt, page[len(page)-1].ID
	}
	require.Equal(t, want, got, "every tenant's pending tasks created before the cutoff, oldest first, page by page")
}
