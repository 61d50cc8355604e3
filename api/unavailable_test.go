package api

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// With Postgres unreachable, the API answers 503 with Retry-After, as
// problem+json, and /readyz names what is down without saying why.
func TestPostgresDownIs503(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dead, err := pgxpool.New(t.Context(), "postgres://troupe:secret@127.0.0.1:1/troupe?sslmode=disable&connect_timeout=2")
	require.NoError(t, err) // connects lazily
	t.Cleanup(dead.Close)
	b.server.Store = store.New(dead)

	for _, path := range []string{"/v1/tasks", "/v1/tasks/2f1c5ae5-8a4c-4b56-9d38-1fd1d3bfa3a6"} {
		resp := b.api.Get(path)
		require.Equal(t, http.StatusServiceUnavailable, resp.Code, "%s: %s", path, resp.Body.String())
		require.Equal(t, "5", resp.Header().Get("Retry-After"), path)
		require.Equal(t, "application/problem+json", resp.Header().Get("Content-Type"), path)
		require.NotContains(t, resp.Body.String(), "127.0.0.1", path)
	}
	resp := b.api.Post("/v1/tasks", map[string]any{"type": "summarize", "input": map[string]any{"text": "x"}})
	require.Equal(t, http.StatusServiceUnavailable, resp.Code, resp.Body.String())
	require.Equal(t, "5", resp.Header().Get("Retry-After"))

	// An API key cannot be checked either.
	b.server.RequireAuth = true
	resp = b.api.Get("/v1/tasks", "Authorization: Bearer tr_whatever")
	require.Equal(t, http.StatusServiceUnavailable, resp.Code, resp.Body.String())
	require.Equal(t, "5", resp.Header().Get("Retry-After"))

	srv := serveReal(t, b)
	ready, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	body, err := io.ReadAll(ready.Body)
	require.NoError(t, err)
	ready.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, ready.StatusCode)
	require.Equal(t, "5", ready.Header.Get("Retry-After"))
	require.Equal(t, "postgres: unavailable", strings.TrimSpace(string(body)))
}
