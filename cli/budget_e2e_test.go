package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// TestDevBudget runs 20 tasks at once against a budget with room for about
// five calls: the tasks past it fail with budget_exceeded, and the budget is
// overspent by no more than the calls in flight when it was reached (at most
// TROUPE_ACTIVITY_CONCURRENCY of them).
func TestDevBudget(t *testing.T) {
	t.Parallel()
	cost := 0.01
	fake := llmtest.NewServer(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "summary", InputTokens: 10, OutputTokens: 2, Cost: &cost, Delay: 200 * time.Millisecond}
	})
	const inFlight = 4
	s := startDev(t, fake, map[string]string{"TROUPE_ACTIVITY_CONCURRENCY": fmt.Sprint(inFlight)})

	var b struct {
		MonthlyUSD float64 `json:"monthly_usd"`
		SpentUSD   float64 `json:"spent_usd"`
	}
	budget := 0.05
	require.Equal(t, http.StatusOK, s.call(t, http.MethodPut, "/v1/budget", map[string]any{"monthly_usd": budget}, nil, &b))
	require.Equal(t, budget, b.MonthlyUSD)

	const tasks = 20
	ids := make([]string, tasks)
	var wg sync.WaitGroup
	for i := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var created taskJSON
			require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
				map[string]any{"type": "summarize", "input": map[string]any{"text": fmt.Sprint("text ", i)}}, nil, &created))
			ids[i] = created.ID
		}()
	}
	wg.Wait()
	var completed, refused int
	for _, id := range ids {
		task := s.pollFor(t, 2*time.Minute, 100*time.Millisecond, id, "completed", "failed")
		if task.Status == "completed" {
			completed++
			continue
		}
		refused++
		require.Contains(t, task.Error, "budget_exceeded: the monthly budget of tenant \"default\" is used up")
		require.Contains(t, task.Error, "troupe tenants set-budget")
	}
	require.GreaterOrEqual(t, completed, 5, "the budget's room was used")
	require.Positive(t, refused)

	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/budget", nil, nil, &b))
	require.InDelta(t, float64(completed)*cost, b.SpentUSD, 1e-9, "the spend is the recorded calls")
	require.LessOrEqual(t, b.SpentUSD, budget+inFlight*cost+1e-9, "overspent by at most the calls in flight")
	require.Len(t, fake.Requests(), completed, "a refused call never reaches the provider")

	// The marks are announced once each, in the audit log.
	var audit struct {
		Items []struct {
			EventType string `json:"event_type"`
		} `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/audit?event_type=budget_100", nil, nil, &audit))
	require.Len(t, audit.Items, 1)
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/audit?event_type=budget_80", nil, nil, &audit))
	require.Len(t, audit.Items, 1)

	// The figures are metrics, and the CLI raises the budget.
	resp, err := http.Get(s.api + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), `troupe_tenant_budget_usd{tenant="default"} 0.05`)
	var out bytes.Buffer
	require.NoError(t, Run(t.Context(), []string{"tenants", "set-budget", "default", "1"},
		func(k string) string { return map[string]string{"DATABASE_URL": s.dbURL}[k] }, &out, io.Discard))
	require.Contains(t, out.String(), "$1.00")
	var again taskJSON
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
		map[string]any{"type": "summarize", "input": map[string]any{"text": "after the raise"}}, nil, &again))
	require.Equal(t, "completed", s.pollFor(t, time.Minute, 100*time.Millisecond, again.ID, "completed", "failed").Status)
}
