package store_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/migrations"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// setupApp returns a bundle connected as a login member of the application role, the way
// troupe serve and worker connect in production.
func setupApp(t *testing.T) bundle {
	t.Helper()
	t.Parallel()
	return connect(t, storetest.AppURL(t, storetest.NewDB(t)))
}

// requirePermissionDenied checks that err is Postgres's insufficient_privilege.
func requirePermissionDenied(t *testing.T, err error, what string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%s: want a permission error, got %v", what, err)
	require.Equal(t, "42501", pgErr.Code, "%s: %s", what, pgErr.Message)
}

// Every table, including those of later migrations, grants the application role what the
// store needs and no more; audit_logs is append-only.
func TestAppRoleGrants(t *testing.T) {
	b := setup(t)
	rows, err := b.pool.Query(b.ctx, `
		SELECT c.relname, c.relkind::text,
			has_table_privilege($1, c.oid, 'SELECT'), has_table_privilege($1, c.oid, 'INSERT'),
			has_table_privilege($1, c.oid, 'UPDATE'), has_table_privilege($1, c.oid, 'DELETE'),
			has_table_privilege($1, c.oid, 'TRUNCATE') OR has_table_privilege($1, c.oid, 'TRIGGER')
				OR has_table_privilege($1, c.oid, 'REFERENCES'),
			c.relkind = 'S' AND has_sequence_privilege($1, c.oid, 'USAGE')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')
		ORDER BY 1`, migrations.AppRole)
	require.NoError(t, err)
	type grants struct {
		table, kind                              string
		sel, ins, upd, del, other, sequenceUsage bool
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grants, error) {
		var g grants
		err := r.Scan(&g.table, &g.kind, &g.sel, &g.ins, &g.upd, &g.del, &g.other, &g.sequenceUsage)
		return g, err
	})
	require.NoError(t, err)
	require.NotEmpty(t, all)
	for _, g := range all {
		got := [...]bool{g.sel, g.ins, g.upd, g.del, g.other}
		switch {
		case g.table == "goose_db_version":
			require.Equal(t, [...]bool{true, false, false, false, false}, got, "%s: read only", g.table)
		case g.table == "goose_db_version_id_seq":
			require.False(t, g.sequenceUsage, g.table)
		case g.kind == "S":
			require.True(t, g.sequenceUsage, "%s: usable", g.table)
		case g.table == "audit_logs":
			require.Equal(t, [...]bool{true, true, false, false, false}, got, "%s: append-only", g.table)
		default:
			require.Equal(t, [...]bool{true, true, true, true, false}, got, "%s: read and write", g.table)
		}
	}
}

// As the application role, the audit log takes new rows and nothing else: no change, no
// deletion, no switching its append-only triggers off, no dropping it.
func TestAppRoleCannotChangeTheAuditLog(t *testing.T) {
	b := setupApp(t)
	require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "task.created", TenantID: "acme", ResourceID: "t1"}))
	audit, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, audit, 1)

	for _, sql := range []string{
		"UPDATE audit_logs SET actor = 'someone else'",
		"DELETE FROM audit_logs",
		"TRUNCATE audit_logs",
		"ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_change",
		"ALTER TABLE audit_logs DISABLE TRIGGER ALL",
		"DROP TRIGGER audit_logs_no_change ON audit_logs",
		"DROP TABLE audit_logs",
		"ALTER TABLE tasks ADD COLUMN owned boolean",
		"TRUNCATE tasks CASCADE",
		"DROP TABLE tasks CASCADE",
		"CREATE TABLE shadow (id int)",
		"DELETE FROM goose_db_version",
	} {
		_, err := b.pool.Exec(b.ctx, sql)
		requirePermissionDenied(t, err, sql)
	}
	audit, _, err = b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, audit, 1, "the audit row is intact")
}

// Everything the store does, as the application role: the life of a task with its subtask,
// LLM calls, events, tool calls, messages and blobs, API keys, reports, and a retention pass.
func TestAppRoleRunsTheStore(t *testing.T) {
	b := setupApp(t)
	v, err := store.CheckSchema(b.ctx, b.pool)
	require.NoError(t, err)
	require.Equal(t, v.Binary, v.Database)

	key, k, err := b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "acme", Role: "admin", Name: "ops"})
	require.NoError(t, err)
	_, err = b.store.LookupAPIKey(b.ctx, key)
	require.NoError(t, err)
	require.NoError(t, b.store.RevokeAPIKey(b.ctx, "acme", k.ID))

	// A task whose workflow never started is found and deleted by the API's sweep.
	orphan := b.createTask(t, store.NewTask{IdempotencyKey: "orphan"})
	pending, err := b.store.ListPendingTasks(b.ctx, b.clock.Now().Add(time.Minute), time.Time{}, uuid.Nil, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.NoError(t, b.store.DeleteTask(b.ctx, orphan.ID))

	task, ref := b.withDetails(t) // started, with events, LLM calls, tool calls, messages, a blob
	_, err = b.store.PutBlob(b.ctx, task.ID, json.RawMessage(`{"task":"`+task.ID.String()+`"}`))
	require.NoError(t, err, "storing a blob again")
	require.NoError(t, b.store.RecordToolCall(b.ctx, store.ToolCall{TaskID: task.ID, CallID: "tool-0", Tool: "echo", Status: store.ToolCallFailed, Error: "boom"}),
		"updating a tool call")
	require.NoError(t, b.store.AppendMessages(b.ctx, task.ID, "main", 2, []json.RawMessage{json.RawMessage(`{"role":"tool"}`)}),
		"rewriting a message")
	step, err := b.store.StartSubtask(b.ctx, store.Subtask{TaskID: task.ID, Key: "step"})
	require.NoError(t, err)
	require.NoError(t, b.store.RecordLLMCall(b.ctx, store.LLMCall{TaskID: task.ID, SubtaskID: &step.ID, CallKey: "step-call", Attempt: 1,
		Provider: "openai", Model: "gpt-4o-mini", InputTokens: 10, OutputTokens: 5}))
	require.NoError(t, b.store.FinishSubtask(b.ctx, step.ID, store.StatusCompleted, "gpt-4o-mini", json.RawMessage(`{"ok":true}`), ""))
	require.NoError(t, b.store.FinishTask(b.ctx, task.ID, "run-1", store.StatusCompleted, json.RawMessage(`{"ok":true}`), ""))
	require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "task.completed", TenantID: "acme", ResourceID: task.ID.String(), DedupeKey: "done"}))
	require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "task.completed", TenantID: "acme", ResourceID: task.ID.String(), DedupeKey: "done"}),
		"a retried audit row changes nothing")

	require.NoError(t, b.store.Ping(b.ctx))
	got, err := b.store.GetTask(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
	_, err = b.store.GetTaskByID(b.ctx, task.ID)
	require.NoError(t, err)
	_, err = b.store.ListLLMCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	_, err = b.store.GetToolCall(b.ctx, "acme", task.ID, "tool-0")
	require.NoError(t, err)
	_, err = b.store.Messages(b.ctx, task.ID, "main", 3)
	require.NoError(t, err)
	_, _, err = b.store.ListTasks(b.ctx, store.TaskFilter{TenantID: "acme"})
	require.NoError(t, err)
	_, err = b.store.ListSubtasks(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	_, err = b.store.ListEvents(b.ctx, "acme", task.ID, 0, 10)
	require.NoError(t, err)
	_, err = b.store.ListToolCalls(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	_, err = b.store.Waits(b.ctx, "acme", task.ID)
	require.NoError(t, err)
	costs, err := b.store.Costs(b.ctx, "acme", []string{"model"}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.NotEmpty(t, costs)
	_, err = b.store.GetBlob(b.ctx, ref)
	require.NoError(t, err)

	// The retention cleaner, under its advisory lock, deletes the details and the blob.
	retention := 24 * time.Hour
	b.clock.Advance(retention + time.Hour)
	cleaner := &store.Cleaner{Store: b.store, Retention: retention, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	require.NoError(t, cleaner.Clean(b.ctx))
	require.Equal(t, map[string]int{"task_events": 0, "llm_calls": 0, "messages": 0, "tool_calls": 0}, b.details(t, task))
	_, err = b.store.GetBlob(b.ctx, ref)
	require.ErrorIs(t, err, store.ErrNotFound)
}
