package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// exported collects what an export of f calls back with, as "task/conversation: messages".
func exported(t *testing.T, b bundle, f store.TaskFilter) ([]store.Conversation, []string) {
	t.Helper()
	var convs []store.Conversation
	var lines []string
	require.NoError(t, b.store.ExportConversations(b.ctx, f, func(c store.Conversation) error {
		convs = append(convs, c)
		lines = append(lines, fmt.Sprintf("%s/%s: %d", c.Task.ID, c.Name, len(c.Messages)))
		return nil
	}))
	return convs, lines
}

func TestExportConversations(t *testing.T) {
	b := setup(t)
	old := b.createTask(t, store.NewTask{Type: "summarize", Model: "gpt-4o"})
	require.NoError(t, b.store.AppendMessages(b.ctx, old.ID, "agent", 0,
		rawMessages(`{"role":"system","content":"S"}`, `{"role":"user","content":"U"}`, `{"role":"assistant","content":"A"}`)))
	b.clock.Advance(time.Minute)
	wf := b.createTask(t, store.NewTask{Type: "workflow:triage", Model: "mock"})
	require.NoError(t, b.store.AppendMessages(b.ctx, wf.ID, "classify", 0, rawMessages(`{"role":"user","content":"c"}`)))
	require.NoError(t, b.store.AppendMessages(b.ctx, wf.ID, "answer", 0, rawMessages(`{"role":"user","content":"a"}`, `{"role":"assistant","content":"b"}`)))
	b.createTask(t, store.NewTask{Type: "summarize"}) // no conversation yet
	foreign := b.createTask(t, store.NewTask{TenantID: "globex"})
	require.NoError(t, b.store.AppendMessages(b.ctx, foreign.ID, "agent", 0, rawMessages(`{"role":"user","content":"x"}`)))

	convs, lines := exported(t, b, store.TaskFilter{TenantID: "acme"})
	require.Equal(t, []string{wf.ID.String() + "/answer: 2", wf.ID.String() + "/classify: 1", old.ID.String() + "/agent: 3"}, lines,
		"newest task first, its conversations by name, another tenant's never")
	require.JSONEq(t, `{"role":"assistant","content":"A"}`, string(convs[2].Messages[2]))
	require.Equal(t, "summarize", convs[2].Task.Type)

	_, lines = exported(t, b, store.TaskFilter{TenantID: "acme", Model: "gpt-4o"})
	require.Equal(t, []string{old.ID.String() + "/agent: 3"}, lines)
	_, lines = exported(t, b, store.TaskFilter{TenantID: "acme", Type: "workflow:triage"})
	require.Len(t, lines, 2)
	_, lines = exported(t, b, store.TaskFilter{TenantID: "acme", Cursor: convs[0].Cursor})
	require.Equal(t, []string{old.ID.String() + "/agent: 3"}, lines, "a cursor resumes after its task")

	stop := errors.New("stop")
	n := 0
	err := b.store.ExportConversations(b.ctx, store.TaskFilter{TenantID: "acme"}, func(store.Conversation) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
	require.ErrorIs(t, b.store.ExportConversations(b.ctx, store.TaskFilter{TenantID: "acme", Cursor: "bad"}, nil), store.ErrInvalidCursor)
}

// An export reads its tasks a page at a time and loses none at the pages' edges.
func TestExportConversationsPages(t *testing.T) {
	b := setup(t)
	want := map[uuid.UUID]bool{}
	for range 230 {
		task := b.createTask(t, store.NewTask{})
		require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "agent", 0, rawMessages(`{"role":"user","content":"u"}`)))
		want[task.ID] = true
		if len(want)%3 == 0 {
			b.clock.Advance(time.Second) // some share a created_at
		}
	}
	convs, _ := exported(t, b, store.TaskFilter{TenantID: "acme"})
	require.Len(t, convs, 230)
	for _, c := range convs {
		require.True(t, want[c.Task.ID], "once each")
		delete(want, c.Task.ID)
	}
}
