package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestAuditIsAppendOnly(t *testing.T) {
	b := setup(t)
	require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "api_key_created", TenantID: "acme"}))

	_, err := b.pool.Exec(b.ctx, "UPDATE audit_logs SET actor = 'mallory'")
	require.ErrorContains(t, err, "audit_logs is append-only")
	_, err = b.pool.Exec(b.ctx, "DELETE FROM audit_logs")
	require.ErrorContains(t, err, "audit_logs is append-only")
	_, err = b.pool.Exec(b.ctx, "TRUNCATE audit_logs")
	require.ErrorContains(t, err, "audit_logs is append-only")
	require.Equal(t, 1, b.count(t, "audit_logs", "tenant_id = $1", "acme"))
}

func TestAppendAuditDedupe(t *testing.T) {
	b := setup(t)
	a := store.Audit{
		EventType: "task_signaled", ResourceType: "task", ResourceID: "t1", TenantID: "acme",
		UserIDHash: "alice", Actor: "key:ops", Metadata: json.RawMessage(`{"signal":"approve"}`),
		DedupeKey: "task_signaled:t1:1",
	}
	require.NoError(t, b.store.AppendAudit(b.ctx, a))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.AppendAudit(b.ctx, a), "retried append")
	a.DedupeKey = ""
	require.NoError(t, b.store.AppendAudit(b.ctx, a))
	require.NoError(t, b.store.AppendAudit(b.ctx, a), "rows without a dedupe key always append")

	rows, next, err := b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, rows, 3)
	first := rows[2]
	require.Equal(t, "task_signaled", first.EventType)
	require.Equal(t, "task", first.ResourceType)
	require.Equal(t, "t1", first.ResourceID)
	require.Equal(t, "alice", first.UserIDHash)
	require.Equal(t, "key:ops", first.Actor)
	require.JSONEq(t, `{"signal":"approve"}`, string(first.Metadata))
	require.Equal(t, "task_signaled:t1:1", first.DedupeKey)
	require.True(t, first.At.Equal(b.clock.Now().Add(-time.Second)))

	require.ErrorIs(t, b.store.AppendAudit(b.ctx, store.Audit{}), store.ErrInvalid)
}

func TestListAuditFiltersAndPages(t *testing.T) {
	b := setup(t)
	start := b.clock.Now()
	for i := range 5 {
		require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "login", TenantID: "acme", ResourceID: fmt.Sprint(i)}))
		b.clock.Advance(time.Minute)
	}
	require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "logout", TenantID: "acme", ResourceID: "0"}))
	require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{EventType: "login", TenantID: "globex"}))

	list := func(f store.AuditFilter) []store.Audit {
		t.Helper()
		rows, _, err := b.store.ListAudit(b.ctx, f)
		require.NoError(t, err)
		return rows
	}
	require.Len(t, list(store.AuditFilter{}), 7, "every tenant")
	require.Len(t, list(store.AuditFilter{TenantID: "acme"}), 6)
	require.Len(t, list(store.AuditFilter{TenantID: "acme", EventType: "login"}), 5)
	require.Len(t, list(store.AuditFilter{TenantID: "acme", ResourceID: "0"}), 2)
	between := list(store.AuditFilter{TenantID: "acme", After: start, Before: start.Add(3 * time.Minute)})
	require.Len(t, between, 2)
	require.Equal(t, "2", between[0].ResourceID)
	require.Equal(t, "1", between[1].ResourceID)

	var seen []string
	cursor := ""
	for {
		rows, next, err := b.store.ListAudit(b.ctx, store.AuditFilter{TenantID: "acme", EventType: "login", Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		for _, r := range rows {
			seen = append(seen, r.ResourceID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, []string{"4", "3", "2", "1", "0"}, seen)

	_, _, err := b.store.ListAudit(b.ctx, store.AuditFilter{Cursor: "bm9wZQ"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}
