package cli

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// TestDevRetryWithAnotherModel retries a workflow whose second step the
// task's model refuses with `troupe retry ID --model strong`: the first step
// is not run again, the second runs on the model the retry chose, and the
// audit row names it.
func TestDevRetryWithAnotherModel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string // step@model of each request
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		prompt := req.Messages[len(req.Messages)-1].Content
		step, _, _ := strings.Cut(prompt, " ")
		mu.Lock()
		seen = append(seen, step+"@"+req.Model)
		mu.Unlock()
		if step == "TWO" && req.Model == "weak" {
			return llmtest.Reply{Status: http.StatusBadRequest, Content: "the model refuses step two"}
		}
		return llmtest.Reply{Content: strings.ToLower(step) + " text", InputTokens: 10, OutputTokens: 2}
	})
	s := startDev(t, fake, nil)
	var task taskJSON
	body := map[string]any{"type": "workflow:retry_two_steps", "definition": retryDefinition, "model": "weak", "input": map[string]any{"brief": "otters"}}
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", body, nil, &task))
	failed := s.waitFor(t, task.ID, "completed", "failed")
	require.Equal(t, "failed", failed.Status)

	var out bytes.Buffer
	env := map[string]string{"TROUPE_API_URL": s.api}
	require.NoError(t, Run(context.Background(), []string{"retry", task.ID, "--model", "strong"}, func(k string) string { return env[k] }, &out, &out), out.String())
	var got struct {
		taskJSON
		RunID string `json:"run_id"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &got))
	done := s.waitForRun(t, task.ID, got.RunID)
	require.Equal(t, "completed", done.Status, done.Error)
	require.JSONEq(t, `{"text": "two text"}`, string(done.Output))
	mu.Lock()
	require.Equal(t, []string{"ONE@weak", "TWO@weak", "TWO@strong"}, seen, "step one is kept; step two runs again on the chosen model")
	mu.Unlock()

	var calls []struct {
		Model  string `json:"model"`
		Status int    `json:"status_code"`
	}
	var page struct {
		Items *[]struct {
			Model  string `json:"model"`
			Status int    `json:"status_code"`
		} `json:"items"`
	}
	page.Items = &calls
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/llm-calls", nil, nil, &page))
	require.Equal(t, "strong", calls[len(calls)-1].Model, "the call records the model that answered")

	audit, _, err := s.store.ListAudit(context.Background(), store.AuditFilter{TenantID: "default", ResourceID: task.ID, EventType: "task_retried"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Contains(t, string(audit[0].Metadata), `"model": "strong"`)
}
