package api

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// Every operation of the OpenAPI document, enumerated so that a new route
// cannot skip it, refuses revoked and expired keys, refuses a reader every
// change, and answers 404 for another tenant's task.
func TestEveryRouteHoldsKeysRolesAndTenants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.RequireAuth = true
	ctx := context.Background()
	key := func(tenant, role string) (string, store.APIKey) {
		k, meta, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: tenant, Role: role, Name: role})
		require.NoError(t, err)
		return k, meta
	}
	member, _ := key("acme", store.RoleMember)
	reader, _ := key("acme", store.RoleReader)
	stranger, _ := key("globex", store.RoleAdmin)
	revoked, revokedKey := key("acme", store.RoleAdmin)
	require.NoError(t, b.store.RevokeAPIKey(ctx, "acme", revokedKey.ID))
	expired, expiredKey := key("acme", store.RoleAdmin)
	conn, err := pgx.Connect(ctx, b.dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "UPDATE api_keys SET expires_at = now() - interval '1 hour' WHERE id = $1", expiredKey.ID)
	require.NoError(t, err)

	created := b.api.Post("/v1/tasks", "Authorization: Bearer "+member, map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
	task := decode[Task](t, created.Body.String())
	fill := strings.NewReplacer("{id}", task.ID, "{call_id}", "call-1", "{name}", "publish_ok")

	ops := operations(t, b)
	require.GreaterOrEqual(t, len(ops), 20)
	for _, op := range ops {
		path := fill.Replace(op.Path)
		call := func(key string) int {
			args := []any{"Authorization: Bearer " + key}
			if op.Method != http.MethodGet {
				args = append(args, strings.NewReader(`{}`), "Content-Type: application/json")
			}
			return b.api.Do(op.Method, path, args...).Code
		}
		require.Equal(t, http.StatusUnauthorized, call(revoked), "%s with a revoked key", op.OperationID)
		require.Equal(t, http.StatusUnauthorized, call(expired), "%s with an expired key", op.OperationID)
		if !readOnly(op) {
			require.Equal(t, http.StatusForbidden, call(reader), "%s with a reader key", op.OperationID)
		}
		if strings.Contains(op.Path, "{id}") {
			require.Equal(t, http.StatusNotFound, call(stranger), "%s of another tenant's task", op.OperationID)
		}
	}

	// The refusals are audited in the keys' tenant, once a minute each.
	refusals, _, err := b.store.ListAudit(ctx, store.AuditFilter{TenantID: "acme", EventType: "auth_refused", Limit: 200})
	require.NoError(t, err)
	require.NotEmpty(t, refusals)
	require.LessOrEqual(t, len(refusals), 2*(2+len(ops)), "at most one row a minute per key and reason")
	var got *time.Time
	keys, err := b.store.ListAPIKeys(ctx, "acme")
	require.NoError(t, err)
	for _, k := range keys {
		if k.Role == store.RoleMember {
			got = k.LastUsedAt
		}
	}
	require.NotNil(t, got, "a key's last use is kept")
}

// A flood of unknown keys writes one audit row a minute, not one a request.
func TestUnknownKeysDoNotFloodTheAuditLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.RequireAuth = true
	for range 50 {
		require.Equal(t, http.StatusUnauthorized, b.api.Get("/v1/tasks", "Authorization: Bearer trp_"+rand.Text()).Code)
	}
	rows, _, err := b.store.ListAudit(context.Background(), store.AuditFilter{EventType: "auth_refused"})
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	require.LessOrEqual(t, len(rows), 2, "one row a minute (two if the minute turned)")
}
