package store_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestAppendAndListEvents(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	other := b.createTask(t, store.NewTask{})

	for i := range 5 {
		key := fmt.Sprintf("progress:%d", i)
		require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "progress", key, map[string]int{"step": i}))
		require.NoError(t, b.store.AppendEvent(b.ctx, task.ID, "progress", key, map[string]int{"step": i}), "retried append")
		require.NoError(t, b.store.AppendEvent(b.ctx, other.ID, "progress", key, nil))
	}

	all, err := b.store.ListEvents(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, all, 6, "created and 5 progress events")
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i].ID, all[i-1].ID)
		require.Equal(t, task.ID, all[i].TaskID)
		require.Equal(t, "progress", all[i].Kind)
		require.JSONEq(t, fmt.Sprintf(`{"step":%d}`, i-1), string(all[i].Payload))
		require.True(t, all[i].At.Equal(b.clock.Now()))
	}

	after, err := b.store.ListEvents(b.ctx, "acme", task.ID, all[2].ID, 2)
	require.NoError(t, err)
	require.Equal(t, all[3:5], after)

	none, err := b.store.ListEvents(b.ctx, "acme", task.ID, all[5].ID, 0)
	require.NoError(t, err)
	require.Empty(t, none)

	otherEvents, err := b.store.ListEvents(b.ctx, "acme", other.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, otherEvents, 6)
	require.Nil(t, otherEvents[1].Payload)

	require.ErrorIs(t, b.store.AppendEvent(b.ctx, uuid.New(), "progress", "k", nil), store.ErrNotFound)
	require.ErrorIs(t, b.store.AppendEvent(b.ctx, task.ID, "progress", "", nil), store.ErrInvalid)

	// A transient event is kept as any other, once per dedupe key.
	require.NoError(t, b.store.AppendTransientEvent(b.ctx, task.ID, "piece", "piece:1", map[string]string{"text": "Hel"}))
	require.NoError(t, b.store.AppendTransientEvent(b.ctx, task.ID, "piece", "piece:1", map[string]string{"text": "Hel"}), "retried append")
	pieces, err := b.store.ListEvents(b.ctx, "acme", task.ID, all[5].ID, 0)
	require.NoError(t, err)
	require.Len(t, pieces, 1)
	require.JSONEq(t, `{"text":"Hel"}`, string(pieces[0].Payload))
	require.ErrorIs(t, b.store.AppendTransientEvent(b.ctx, uuid.New(), "piece", "k", nil), store.ErrNotFound)
	require.ErrorIs(t, b.store.AppendTransientEvent(b.ctx, task.ID, "", "k", nil), store.ErrInvalid)
	// A log line is kept once per dedupe key.
	line := store.LogLine{Level: "info", Message: "model\x00 answered", Node: "CallLLM"}
	require.NoError(t, b.store.AppendLog(b.ctx, task.ID, "a:1", b.clock.Now(), line))
	require.NoError(t, b.store.AppendLog(b.ctx, task.ID, "a:1", b.clock.Now(), line), "retried append")
	logs, err := b.store.ListLogs(b.ctx, "acme", task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "model\uFFFD answered", logs[0].Message, "a NUL byte becomes U+FFFD")
	require.ErrorIs(t, b.store.AppendLog(b.ctx, uuid.New(), "a:1", b.clock.Now(), line), store.ErrNotFound)
	// The setting ends with its transaction: every connection of the pool
	// commits as before.
	for range b.pool.Stat().TotalConns() {
		conn, err := b.pool.Acquire(b.ctx)
		require.NoError(t, err)
		defer conn.Release()
		var commit string
		require.NoError(t, conn.QueryRow(b.ctx, "SHOW synchronous_commit").Scan(&commit))
		require.Equal(t, "on", commit)
	}
}
