package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	done := storedTask(t, b, DefaultTenant)
	require.NoError(t, b.store.StartTask(t.Context(), done.ID, "r"))
	require.NoError(t, b.store.RecordLLMCall(t.Context(), store.LLMCall{TaskID: done.ID, CallKey: "k", Attempt: 1, Provider: "openai",
		Model: "gpt-4o", InputTokens: 10, OutputTokens: 2, CostUSD: 0.25}))
	require.NoError(t, b.store.FinishTask(t.Context(), done.ID, "r", store.StatusCompleted, nil, ""))
	storedTask(t, b, DefaultTenant)
	storedTask(t, b, "globex")

	resp := b.api.Get("/v1/stats?window=2h")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	st := decode[StatsBody](t, resp.Body.String())
	require.Equal(t, "2h0m0s", st.Window)
	require.Equal(t, int64(2), st.Tasks.Total)
	require.Equal(t, map[string]int64{"completed": 1, "pending": 1}, st.Tasks.ByStatus)
	require.Equal(t, []TypeCount{{Type: "summarize", Total: 2, ByStatus: map[string]int64{"completed": 1, "pending": 1}}}, st.Tasks.ByType)
	require.InDelta(t, 2.0/120, st.Tasks.PerMinute, 1e-9)
	require.Equal(t, int64(1), st.Durations.Count)
	require.Equal(t, LLMStats{Calls: 1, InputTokens: 10, OutputTokens: 2,
		ByModel: []ModelCount{{Model: "gpt-4o", Calls: 1, InputTokens: 10, OutputTokens: 2, CostUSD: 0.25}}}, st.LLM)
	require.InDelta(t, 0.25, st.CostUSD, 1e-9)

	for _, bad := range []string{"soon", "30s", "3000h"} {
		resp := b.api.Get("/v1/stats?window=" + bad)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, bad)
	}
	b.server.RequireAuth = true
	member, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: DefaultTenant, Role: "member", Name: "ci"})
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/stats", "Authorization: Bearer "+member).Code)
}
