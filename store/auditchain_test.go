package store_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// appendAudits appends n rows to tenant's audit log.
func appendAudits(t *testing.T, b bundle, tenant string, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, b.store.AppendAudit(b.ctx, store.Audit{
			EventType: "task_created", ResourceType: "task", ResourceID: fmt.Sprint(i), TenantID: tenant,
			Actor: "key:ops", Metadata: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i)),
		}))
	}
}

func TestAuditChainVerifies(t *testing.T) {
	b := setup(t)
	appendAudits(t, b, "acme", 5)
	appendAudits(t, b, "globex", 3)

	check, err := b.store.VerifyAudit(b.ctx, "acme")
	require.NoError(t, err)
	require.True(t, check.OK)
	require.EqualValues(t, 5, check.Checked)
	require.Len(t, check.Head, 32)
	require.Nil(t, check.FirstBroken)

	empty, err := b.store.VerifyAudit(b.ctx, "nobody")
	require.NoError(t, err)
	require.True(t, empty.OK)
	require.Zero(t, empty.Checked)

	tenants, err := b.store.AuditTenants(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"acme", "globex"}, tenants)
}

// An owner who switches the append-only trigger off can edit or remove a
// row; the chain names the first row that no longer follows.
func TestAuditChainNamesTheFirstEditedOrRemovedRow(t *testing.T) {
	b := setup(t)
	appendAudits(t, b, "acme", 6)
	appendAudits(t, b, "globex", 2)
	var ids []int64
	rows, err := b.pool.Query(b.ctx, "SELECT id FROM audit_logs WHERE tenant_id = 'acme' ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	tamper := func(sql string, args ...any) {
		_, err := b.pool.Exec(b.ctx, "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_change")
		require.NoError(t, err)
		_, err = b.pool.Exec(b.ctx, sql, args...)
		require.NoError(t, err)
		_, err = b.pool.Exec(b.ctx, "ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_change")
		require.NoError(t, err)
	}

	tamper("DELETE FROM audit_logs WHERE id = $1", ids[4])
	check, err := b.store.VerifyAudit(b.ctx, "acme")
	require.NoError(t, err)
	require.False(t, check.OK)
	require.Equal(t, ids[5], check.FirstBroken.ID, "the row after the removed one")
	require.Contains(t, check.FirstBroken.Reason, "removed or rewritten")

	tamper("UPDATE audit_logs SET actor = 'mallory' WHERE id = $1", ids[2])
	check, err = b.store.VerifyAudit(b.ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, ids[2], check.FirstBroken.ID, "the edited row comes first")
	require.Equal(t, "task_created", check.FirstBroken.EventType)
	require.Contains(t, check.FirstBroken.Reason, "does not match its content")
	require.EqualValues(t, 5, check.Checked)

	// Recomputing the edited row's hash moves the break to the next row.
	tamper("UPDATE audit_logs a SET hash = sha256(prev_hash || audit_content(a)) WHERE id = $1", ids[2])
	check, err = b.store.VerifyAudit(b.ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, ids[3], check.FirstBroken.ID)

	other, err := b.store.VerifyAudit(b.ctx, "globex")
	require.NoError(t, err)
	require.True(t, other.OK, "another tenant's chain is untouched")
}

// Writers appending at once to one tenant's log queue on its chain: none
// forks it.
func TestAuditChainHoldsUnderConcurrentWriters(t *testing.T) {
	b := setup(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if err := b.store.AppendAudit(b.ctx, store.Audit{EventType: "task_signaled", TenantID: "acme", ResourceID: fmt.Sprint(w, "/", i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	check, err := b.store.VerifyAudit(b.ctx, "acme")
	require.NoError(t, err)
	require.True(t, check.OK, "first broken: %+v", check.FirstBroken)
	require.EqualValues(t, 80, check.Checked)
}
