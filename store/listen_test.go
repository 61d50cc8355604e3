package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestEventsAreAnnouncedWhenTheirTransactionCommits(t *testing.T) {
	b := setup(t)
	ctx, cancel := context.WithCancel(b.ctx)
	notices := make(chan store.EventNotice, 10)
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.store.ListenEvents(ctx, func() { close(listening) }, func(n store.EventNotice) { notices <- n })
	}()
	<-listening

	// A notice of a transaction rolled back is never heard: the first one heard is the next.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `SELECT pg_notify($1, $2)`, store.EventChannel, uuid.NewString()+" 1 acme corp")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))

	task := b.createTask(t, store.NewTask{TenantID: "acme corp"})
	require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "note", "n1", nil))
	require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "note", "n1", nil), "a duplicate announces nothing")
	require.NoError(t, b.store.AppendTransientEvent(b.ctx, task.ID, "note", "n2", nil), "a transient event is announced too")
	require.NoError(t, b.store.AppendTransientEvent(b.ctx, task.ID, "note", "n2", nil), "a duplicate announces nothing")
	events, err := b.store.ListEvents(b.ctx, "acme corp", task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, 3)
	for _, e := range events {
		select {
		case n := <-notices:
			require.Equal(t, store.EventNotice{TenantID: "acme corp", TaskID: task.ID, ID: e.ID}, n)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "no notice of event", "%d", e.ID)
		}
	}
	select {
	case n := <-notices:
		require.FailNow(t, "unexpected notice", "%+v", n)
	case <-time.After(200 * time.Millisecond):
	}

	cancel()
	require.NoError(t, <-done, "a listener stopped by its context")
	require.Empty(t, notices)
}

func TestEventsAfterReadsSeveralTasksInOneQuery(t *testing.T) {
	b := setup(t)
	first, second := b.createTask(t, store.NewTask{}), b.createTask(t, store.NewTask{TenantID: "globex"})
	for _, id := range []uuid.UUID{first.ID, second.ID, first.ID} {
		require.NoError(t, b.store.AppendEvent(b.ctx, id, "note", uuid.NewString(), nil))
	}
	created, err := b.store.ListEvents(b.ctx, "acme", first.ID, 0, 1)
	require.NoError(t, err)
	events, err := b.store.EventsAfter(b.ctx, map[uuid.UUID]int64{first.ID: created[0].ID, second.ID: 0}, 0)
	require.NoError(t, err)
	require.Len(t, events, 4, "two notes of the first task, the creation and note of the second")
	for i := 1; i < len(events); i++ {
		require.Greater(t, events[i].ID, events[i-1].ID)
	}
	missed, err := b.store.TasksWithEventsAfter(b.ctx, []string{"globex"}, created[0].ID)
	require.NoError(t, err)
	require.Equal(t, []store.EventNotice{{TenantID: "globex", TaskID: second.ID, ID: events[0].ID}}, missed)
	none, err := b.store.EventsAfter(b.ctx, nil, 0)
	require.NoError(t, err)
	require.Empty(t, none)
}
