package cli

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

func TestAuditVerifyNamesTheBrokenChain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewDB(t)
	pool, err := store.Connect(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	st := store.New(pool)
	for _, tenant := range []string{"acme", "acme", "globex"} {
		require.NoError(t, st.AppendAudit(ctx, store.Audit{EventType: "task_created", TenantID: tenant}))
	}
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		env := map[string]string{"DATABASE_URL": url}
		err := Run(context.Background(), append([]string{"audit", "verify"}, args...), func(k string) string { return env[k] }, &out, &out)
		return out.String(), err
	}

	out, err := verify()
	require.NoError(t, err, out)
	require.Regexp(t, `acme\s+2\s+ok\s+[0-9a-f]{64}`, out)
	require.Regexp(t, `globex\s+1\s+ok\s+[0-9a-f]{64}`, out)

	// An owner switches the append-only trigger off and edits a row.
	_, err = pool.Exec(ctx, `ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_change;
		UPDATE audit_logs SET actor = 'mallory' WHERE id = (SELECT min(id) FROM audit_logs WHERE tenant_id = 'acme');
		ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_change`)
	require.NoError(t, err)
	out, err = verify()
	require.ErrorContains(t, err, `the audit log of ["acme"] was changed`)
	require.Regexp(t, `acme\s+2\s+BROKEN at row \d+ \(task_created, .*\): its hash does not match its content`, out)
	out, err = verify("--tenant", "globex")
	require.NoError(t, err, out)
	require.NotContains(t, out, "acme")

	_, err = verify("--tenant")
	require.ErrorContains(t, err, "usage: troupe audit verify")
}
