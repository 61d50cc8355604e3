package store_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func rawMessages(texts ...string) []json.RawMessage {
	msgs := make([]json.RawMessage, len(texts))
	for i, text := range texts {
		msgs[i] = json.RawMessage(text)
	}
	return msgs
}

func TestAppendAndReadMessages(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	other := b.createTask(t, store.NewTask{})

	first := rawMessages(`{"role":"system","content":"be brief"}`, `{"role":"user","content":"@lookup_order"}`)
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "main", 0, first))
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "main", 0, first), "retried append")
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "main", 1,
		rawMessages(`{"role":"user","content":"a reset run answered differently"}`, `{"role":"assistant","content":"ok"}`)))
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "step/a#1", 0, rawMessages(`{"role":"user","content":"other conversation"}`)))
	require.NoError(t, b.store.AppendMessages(b.ctx, other.ID, "main", 0, rawMessages(`{"role":"user","content":"other task"}`)))

	msgs, err := b.store.Messages(b.ctx, task.ID, "main", 3)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	require.JSONEq(t, `{"role":"system","content":"be brief"}`, string(msgs[0]))
	require.JSONEq(t, `{"role":"user","content":"a reset run answered differently"}`, string(msgs[1]), "the later write wins")
	require.JSONEq(t, `{"role":"assistant","content":"ok"}`, string(msgs[2]))

	prefix, err := b.store.Messages(b.ctx, task.ID, "main", 1)
	require.NoError(t, err)
	require.Equal(t, msgs[:1], prefix, "the first n only")
	none, err := b.store.Messages(b.ctx, task.ID, "main", 0)
	require.NoError(t, err)
	require.Empty(t, none)

	_, err = b.store.Messages(b.ctx, task.ID, "main", 4)
	require.ErrorIs(t, err, store.ErrNotFound, "fewer stored than asked for")
	_, err = b.store.Messages(b.ctx, task.ID, "missing", 1)
	require.ErrorIs(t, err, store.ErrNotFound)

	require.ErrorIs(t, b.store.AppendMessages(b.ctx, uuid.New(), "main", 0, first), store.ErrNotFound)
	require.ErrorIs(t, b.store.AppendMessages(b.ctx, task.ID, "main", -1, first), store.ErrInvalid)
	require.ErrorIs(t, b.store.AppendMessages(b.ctx, task.ID, "main", 3, rawMessages("")), store.ErrInvalid)
}

func TestMessagesStoreAnyText(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	msgs := rawMessages(`{"role":"tool","content":"a\u0000b"}`, "{\"role\":\"tool\",\"content\":\"\xff\"}")
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "main", 0, msgs))
	got, err := b.store.Messages(b.ctx, task.ID, "main", 2)
	require.NoError(t, err)
	require.JSONEq(t, `{"role":"tool","content":"a\uFFFDb"}`, string(got[0]))
	require.JSONEq(t, `{"role":"tool","content":"\uFFFD"}`, string(got[1]))
}
