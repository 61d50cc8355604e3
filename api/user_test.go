package api

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"a@x.org", "A@X.org", "  a@x.org ", "Alice <A@X.org>", `"Smith, Alice" <a@X.ORG>`} {
		require.Equal(t, "a@x.org", normalizeEmail(in), in)
	}
}

func TestUserHashIsPerTenantAndNormalised(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.server.RequireAuth = true
	acme, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: "member", Name: "ci"})
	require.NoError(t, err)
	globex, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "globex", Role: "member", Name: "ci"})
	require.NoError(t, err)

	submit := func(key, email string) Task {
		t.Helper()
		resp := b.api.Post("/v1/tasks", "Authorization: Bearer "+key, map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}, "user_email": email})
		require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
		return decode[Task](t, resp.Body.String())
	}
	list := func(key, email string) []string {
		t.Helper()
		resp := b.api.Get("/v1/tasks?user_email="+url.QueryEscape(email), "Authorization: Bearer "+key)
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		var ids []string
		for _, task := range decode[struct{ Items []Task }](t, resp.Body.String()).Items {
			ids = append(ids, task.ID)
		}
		return ids
	}
	first := submit(acme, "Alice <A@X.org>")
	second := submit(acme, "a@x.org")
	other := submit(acme, "bob@x.org")
	elsewhere := submit(globex, "a@x.org")

	conn, err := pgx.Connect(ctx, b.dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	hashOf := func(tenant string, task Task) string {
		t.Helper()
		var hash string
		require.NoError(t, conn.QueryRow(ctx, `SELECT user_id_hash FROM tasks WHERE tenant_id = $1 AND id = $2`, tenant, task.ID).Scan(&hash))
		return hash
	}
	require.Equal(t, hashOf("acme", first), hashOf("acme", second), "the two spellings are the same user")
	require.NotEqual(t, hashOf("acme", first), hashOf("acme", other))
	require.NotEqual(t, hashOf("acme", second), hashOf("globex", elsewhere), "the same email has unrelated hashes in two tenants")

	for _, spelling := range []string{"a@x.org", "Alice <A@X.org>", "A@X.ORG"} {
		require.ElementsMatch(t, []string{first.ID, second.ID}, list(acme, spelling), spelling)
		require.Equal(t, []string{elsewhere.ID}, list(globex, spelling), spelling)
	}

	for _, table := range []string{"tasks", "audit_logs"} {
		var leaks int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+table+` r WHERE row_to_json(r)::text ILIKE '%x.org%'`).Scan(&leaks))
		require.Zero(t, leaks, "no email is stored in %s", table)
	}
}
