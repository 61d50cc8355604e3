package api

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/ratelimit"
	"github.com/troupe-dev/troupe/store"
)

// memberKey creates a member key of tenant and returns its Authorization header.
func (b *bundle) memberKey(t *testing.T, tenant string) string {
	t.Helper()
	key, _, err := b.store.CreateAPIKey(context.Background(), store.NewAPIKey{TenantID: tenant, Role: store.RoleMember, Name: "rate"})
	require.NoError(t, err)
	return "Authorization: Bearer " + key
}

// requireTooMany checks a 429: a problem with Retry-After (whole seconds,
// at least 1) and the RateLimit headers of a bucket of size limit; it
// returns Retry-After.
func requireTooMany(t *testing.T, resp *httptest.ResponseRecorder, limit int) time.Duration {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, resp.Code, resp.Body.String())
	require.Equal(t, "application/problem+json", resp.Header().Get("Content-Type"))
	retry, err := strconv.Atoi(resp.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, retry, 1)
	require.Equal(t, strconv.Itoa(limit), resp.Header().Get("RateLimit-Limit"))
	require.Equal(t, "0", resp.Header().Get("RateLimit-Remaining"))
	reset, err := strconv.Atoi(resp.Header().Get("RateLimit-Reset"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, reset, retry)
	return time.Duration(retry) * time.Second
}

func TestRateLimitsPerKeyAndTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, func(s *Server) {
		s.RateLimits = RateLimits{Key: ratelimit.Limit{Rate: 0.5, Burst: 3}, Tenant: ratelimit.Limit{Rate: 0.5, Burst: 5}}
	})
	acme1, acme2, globex := b.memberKey(t, "acme"), b.memberKey(t, "acme"), b.memberKey(t, "globex")

	for range 3 {
		require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", acme1).Code)
	}
	refused := b.api.Get("/v1/tasks", acme1)
	wait := requireTooMany(t, refused, 3)
	require.Contains(t, refused.Body.String(), "requests of this API key")

	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", globex).Code, "another tenant is unaffected")
	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", acme2).Code, "another key of the tenant is unaffected")
	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", acme2).Code, "the tenant's fifth request")
	tenantRefused := b.api.Get("/v1/tasks", acme2)
	requireTooMany(t, tenantRefused, 5)
	require.Contains(t, tenantRefused.Body.String(), "requests of this tenant")
	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", globex).Code, "the other tenant still is unaffected")

	time.Sleep(wait)
	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks", acme1).Code, "the key works again after Retry-After")
}

func TestRateLimitsTaskStarts(t *testing.T) {
	t.Parallel()
	b := setup(t, func(s *Server) {
		s.RateLimits = RateLimits{TaskStarts: ratelimit.Limit{Rate: 2.0 / 60, Burst: 2}}
	})
	start := func(headers ...any) *httptest.ResponseRecorder {
		return b.api.Post("/v1/tasks", append(headers, map[string]any{"type": "summarize", "input": map[string]any{"text": "Limits."}})...)
	}
	for range 2 {
		resp := start()
		require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	}
	refused := start()
	wait := requireTooMany(t, refused, 2)
	require.InDelta(t, 30, wait.Seconds(), 1, "two starts a minute: one every 30 s")
	require.Contains(t, refused.Body.String(), "tasks started by this tenant (2 a minute)")
	require.Equal(t, 2, b.countTasks(t), "the refused start wrote no task")

	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks").Code, "other requests are not task starts")
	resp := start(b.memberKey(t, "globex"))
	require.Equal(t, http.StatusCreated, resp.Code, "another tenant starts tasks meanwhile: %s", resp.Body.String())
}

func TestEveryOperationDeclaresTooManyRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, op := range operations(t, b) {
		tooMany := op.Responses["429"]
		require.NotNil(t, tooMany, op.OperationID)
		require.ElementsMatch(t, []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
			slices.Collect(maps.Keys(tooMany.Headers)), op.OperationID)
	}
}
