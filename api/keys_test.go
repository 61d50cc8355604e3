package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestAdminsManageTheirTenantsKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.RequireAuth = true
	ctx := context.Background()
	admin, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleAdmin, Name: "ops"})
	require.NoError(t, err)
	member, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleMember})
	require.NoError(t, err)
	stranger, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "globex", Role: store.RoleAdmin})
	require.NoError(t, err)
	as := func(key string) string { return "Authorization: Bearer " + key }

	created := b.api.Post("/v1/keys", as(admin), map[string]any{"role": "reader", "name": "dashboard", "expires_in": "720h"})
	require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
	key := decode[struct {
		ID        string `json:"id"`
		Key       string `json:"key"`
		Role      string `json:"role"`
		ExpiresAt string `json:"expires_at"`
	}](t, created.Body.String())
	require.Equal(t, "reader", key.Role)
	require.NotEmpty(t, key.ExpiresAt)
	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", as(key.Key)).Code, "the new key reads")
	require.Equal(t, http.StatusForbidden, b.api.Post("/v1/tasks", as(key.Key), map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}}).Code, "and only reads")

	list := b.api.Get("/v1/keys", as(admin))
	require.Equal(t, http.StatusOK, list.Code)
	require.Contains(t, list.Body.String(), key.ID)
	require.NotContains(t, list.Body.String(), key.Key, "a key is shown once")
	require.NotContains(t, b.api.Get("/v1/keys", as(stranger)).Body.String(), key.ID, "another tenant's admin sees its own keys only")

	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/keys", as(member)).Code)
	require.Equal(t, http.StatusForbidden, b.api.Post("/v1/keys", as(member), map[string]any{"role": "admin"}).Code, "a member cannot make itself an admin")
	require.Equal(t, http.StatusUnprocessableEntity, b.api.Post("/v1/keys", as(admin), map[string]any{"role": "reader", "expires_in": "forever"}).Code)
	require.Equal(t, http.StatusNotFound, b.api.Post("/v1/keys/"+key.ID+"/revoke", as(stranger)).Code)

	require.Equal(t, http.StatusNoContent, b.api.Post("/v1/keys/"+key.ID+"/revoke", as(admin)).Code)
	require.Equal(t, http.StatusUnauthorized, b.api.Get("/v1/tasks", as(key.Key)).Code, "a revoked key stops at once")
	audit, _, err := b.store.ListAudit(ctx, store.AuditFilter{TenantID: "acme", ResourceID: key.ID})
	require.NoError(t, err)
	var kinds []string
	for _, a := range audit {
		kinds = append(kinds, a.EventType)
	}
	require.Subset(t, kinds, []string{"api_key_created", "api_key_revoked"})
}
