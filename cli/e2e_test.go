package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	common "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// devStack is a `troupe dev` process started by a test, with its
// configuration.
type devStack struct {
	api      string
	temporal string
	dbURL    string
	store    *store.Store
}

// startDev runs `troupe dev` in-process on free ports, against a database
// of its own and the given fake OpenAI-compatible server, and waits until it
// is ready. It stops at the end of the test, and the test checks it stopped
// cleanly.
func startDev(t testing.TB, fake *llmtest.Server, extraEnv map[string]string) *devStack {
	t.Helper()
	apiPort, err := devserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	temporalPort, err := devserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	dbURL := extraEnv["DATABASE_URL"] // a test's own server, else a database of its own
	if dbURL == "" {
		dbURL = storetest.NewEmptyDB(t)
	}
	env := map[string]string{
		"DATABASE_URL":         dbURL,
		"TROUPE_ADDR":          fmt.Sprintf("127.0.0.1:%d", apiPort),
		"TEMPORAL_ADDRESS":     fmt.Sprintf("127.0.0.1:%d", temporalPort),
		"TROUPE_UI_ADDR":       "off",
		"TROUPE_METRICS_ADDR":  "127.0.0.1:0",
		"TROUPE_DATA_DIR":      t.TempDir(),
		"OPENAI_API_KEY":       "test-key",
		"OPENAI_BASE_URL":      fake.URL,
		"TROUPE_DEFAULT_MODEL": "gpt-4o-mini",
		"TROUPE_LOG_LEVEL":     "warn",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &devStack{
		api:      "http://" + env["TROUPE_ADDR"],
		temporal: env["TEMPORAL_ADDRESS"],
		dbURL:    dbURL,
	}
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = Run(ctx, []string{"dev"}, func(k string) string { return env[k] }, io.Discard, &testWriter{t: t})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
			require.NoError(t, runErr, "troupe dev stops cleanly")
		case <-time.After(30 * time.Second):
			t.Error("troupe dev did not stop within 30s")
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(s.api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("troupe dev exited before it was ready: %v", runErr)
		default:
		}
		require.True(t, time.Now().Before(deadline), "troupe dev not ready after 2 minutes")
		time.Sleep(100 * time.Millisecond)
	}
	pool, err := store.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s.store = store.New(pool)
	return s
}

// db opens a pool on the stack's database, for checks the API does not
// offer, closed at the end of the test.
func (s *devStack) db(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Connect(context.Background(), s.dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// testWriter sends a process's log lines to the test log.
type testWriter struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// call sends a JSON request to the API and decodes the JSON answer.
func (s *devStack) call(t testing.TB, method, path string, body any, header map[string]string, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.api+path, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "answer: %s", data)
	}
	return resp.StatusCode
}

// taskJSON is the API's task as the tests read it.
type taskJSON struct {
	ID           string          `json:"id"`
	Status       string          `json:"status"`
	Output       json.RawMessage `json:"output"`
	Error        string          `json:"error"`
	Model        string          `json:"model"`
	InputTokens  int64           `json:"input_tokens"`
	OutputTokens int64           `json:"output_tokens"`
	CostUSD      float64         `json:"cost_usd"`
	WorkflowID   string          `json:"workflow_id"`
	Queue        string          `json:"queue"`
	Timeout      string          `json:"timeout"`
	StartedAt    *time.Time      `json:"started_at"`
	FinishedAt   *time.Time      `json:"finished_at"`
}

// waitFor polls the task until it has one of the statuses.
func (s *devStack) waitFor(t testing.TB, id string, statuses ...string) taskJSON {
	return s.poll(t, 100*time.Millisecond, id, statuses...)
}

// poll reads the task every interval until it has one of the statuses, for
// up to a minute.
func (s *devStack) poll(t testing.TB, interval time.Duration, id string, statuses ...string) taskJSON {
	t.Helper()
	return s.pollFor(t, time.Minute, interval, id, statuses...)
}

// pollFor reads the task every interval until it has one of the statuses,
// for up to limit.
func (s *devStack) pollFor(t testing.TB, limit, interval time.Duration, id string, statuses ...string) taskJSON {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var task taskJSON
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+id, nil, nil, &task))
		for _, st := range statuses {
			if task.Status == st {
				return task
			}
		}
		require.True(t, time.Now().Before(deadline), "task %s still %s, want %v", id, task.Status, statuses)
		time.Sleep(interval)
	}
}

func TestDevEndToEnd(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // requests per scenario marker
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		prompt := req.Messages[len(req.Messages)-1].Content
		mu.Lock()
		defer mu.Unlock()
		cost := 0.001
		switch {
		case strings.Contains(prompt, "LOOP-TOPIC") && len(req.OutputSchema) > 0:
			seen["assess"]++
			verdict := `{"approved": false, "feedback": "cite your sources"}`
			if seen["assess"] > 1 {
				verdict = `{"approved": true, "feedback": "good"}`
			}
			return llmtest.Reply{Content: verdict, InputTokens: 40, OutputTokens: 10, Cost: &cost}
		case strings.Contains(prompt, "LOOP-TOPIC"):
			seen["research"]++
			return llmtest.Reply{Content: fmt.Sprintf("notes v%d", seen["research"]), InputTokens: 50, OutputTokens: 20, Cost: &cost}
		case strings.Contains(prompt, "RATE-LIMITED"):
			seen["rate"]++
			if seen["rate"] <= 2 {
				return llmtest.Reply{Status: 429, ErrorCode: "rate_limit_exceeded", Header: map[string]string{"Retry-After": "1"}}
			}
			return llmtest.Reply{Content: "finally", InputTokens: 30, OutputTokens: 3}
		case strings.Contains(prompt, "SLOW"):
			return llmtest.Reply{Content: "too late", Delay: time.Minute}
		case strings.Contains(prompt, "FAILS-ONCE"):
			seen["once"]++
			if seen["once"] == 1 {
				return llmtest.Reply{Status: 403, ErrorCode: "forbidden"}
			}
			return llmtest.Reply{Content: "second time lucky", InputTokens: 5, OutputTokens: 3}
		case strings.Contains(prompt, "TRIAGE-ME") && len(req.OutputSchema) > 0:
			return llmtest.Reply{Content: `{"kind": "question"}`, InputTokens: 10, OutputTokens: 3}
		case strings.Contains(prompt, "BAD-KEY"):
			return llmtest.Reply{Status: 401, ErrorCode: "invalid_api_key"}
		case req.Model == "gpt-down":
			return llmtest.Reply{Status: 503, ErrorCode: "server_error"}
		default:
			return llmtest.Reply{Content: "A short summary.", InputTokens: 120, OutputTokens: 8}
		}
	})
	s := startDev(t, fake, nil)
	prices := llm.DefaultPrices()

	t.Run("completes with the model's answer, tokens, cost and audit", func(t *testing.T) {
		var task taskJSON
		code := s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "summarize", "input": map[string]any{"text": "Temporal makes code durable."}}, nil, &task)
		require.Equal(t, http.StatusCreated, code)
		require.Contains(t, []string{"pending", "running"}, task.Status)
		require.Equal(t, "task-"+task.ID, task.WorkflowID)

		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		require.JSONEq(t, `{"text":"A short summary."}`, string(done.Output))
		require.Equal(t, "gpt-4o-mini", done.Model)
		require.EqualValues(t, 120, done.InputTokens)
		require.EqualValues(t, 8, done.OutputTokens)
		require.InDelta(t, prices.Cost("gpt-4o-mini", 120, 8), done.CostUSD, 1e-9)
		require.Greater(t, done.CostUSD, 0.0)
		require.NotNil(t, done.StartedAt)
		require.NotNil(t, done.FinishedAt)

		id := uuid.MustParse(task.ID)
		calls, err := s.store.ListLLMCalls(context.Background(), "default", id)
		require.NoError(t, err)
		require.Len(t, calls, 1)
		require.EqualValues(t, 120, calls[0].InputTokens)
		require.Equal(t, 200, calls[0].StatusCode)
		require.Contains(t, string(calls[0].Request), "Temporal makes code durable.")

		require.ElementsMatch(t, []string{"task_created", "task_started", "task_completed"}, s.auditEvents(t, task.ID))

		tc, err := client.Dial(client.Options{HostPort: s.temporal})
		require.NoError(t, err)
		defer tc.Close()
		desc, err := tc.DescribeWorkflowExecution(context.Background(), task.WorkflowID, "")
		require.NoError(t, err)
		require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)
		recordHistory(t, s.temporal, task.WorkflowID, "task_workflow")
	})

	t.Run("retries after 429 with Retry-After and records every attempt", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "RATE-LIMITED hello"}}, nil, &task))
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		require.JSONEq(t, `{"text":"finally"}`, string(done.Output))
		calls, err := s.store.ListLLMCalls(context.Background(), "default", uuid.MustParse(task.ID))
		require.NoError(t, err)
		require.Len(t, calls, 3)
		for i, c := range calls {
			require.Equal(t, i+1, c.Attempt)
		}
		require.Equal(t, 429, calls[0].StatusCode)
		require.Equal(t, 429, calls[1].StatusCode)
		require.Equal(t, 200, calls[2].StatusCode)
		require.EqualValues(t, 30, done.InputTokens)
	})

	t.Run("fails at once on a non-retryable provider error", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "BAD-KEY"}}, nil, &task))
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "failed", done.Status)
		require.Contains(t, done.Error, "401")
		calls, err := s.store.ListLLMCalls(context.Background(), "default", uuid.MustParse(task.ID))
		require.NoError(t, err)
		require.Len(t, calls, 1, "no retry after a 401")
	})

	t.Run("an operator's reset runs a failed task again", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "FAILS-ONCE"}}, nil, &task))
		require.Equal(t, "failed", s.waitFor(t, task.ID, "completed", "failed").Status)

		// What `temporal workflow reset --type FirstWorkflowTask` does.
		tc, err := client.Dial(client.Options{HostPort: s.temporal})
		require.NoError(t, err)
		defer tc.Close()
		ctx := context.Background()
		var firstTask int64
		for it := tc.GetWorkflowHistory(ctx, task.WorkflowID, "", false, 0); it.HasNext() && firstTask == 0; {
			e, err := it.Next()
			require.NoError(t, err)
			if e.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				firstTask = e.GetEventId()
			}
		}
		_, err = tc.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
			Namespace: "default", WorkflowExecution: &common.WorkflowExecution{WorkflowId: task.WorkflowID},
			Reason: "retry after the provider was fixed", WorkflowTaskFinishEventId: firstTask, RequestId: uuid.NewString(),
		})
		require.NoError(t, err)

		require.Eventually(t, func() bool {
			var got taskJSON
			s.call(t, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &got)
			return got.Status == "completed"
		}, 30*time.Second, 100*time.Millisecond)
		done := s.waitFor(t, task.ID, "completed")
		require.JSONEq(t, `{"text":"second time lucky"}`, string(done.Output))
		require.Empty(t, done.Error)
		require.Equal(t, []string{"task_created", "task_started", "task_failed", "task_started", "task_completed"}, reverse(s.auditEvents(t, task.ID)))
	})

	t.Run("cancel aborts the call in flight", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "SLOW"}}, nil, &task))
		s.waitFor(t, task.ID, "running")
		require.Eventually(t, func() bool { return strings.Contains(lastPrompt(fake), "SLOW") }, 30*time.Second, 50*time.Millisecond)
		require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/v1/tasks/"+task.ID+"/cancel", nil, nil, nil))
		done := s.waitFor(t, task.ID, "canceled", "completed", "failed")
		require.Equal(t, "canceled", done.Status)
		calls, err := s.store.ListLLMCalls(context.Background(), "default", uuid.MustParse(task.ID))
		require.NoError(t, err)
		require.Len(t, calls, 1)
		require.NotEmpty(t, calls[0].Error, "the aborted call is recorded with its error")
		require.Less(t, calls[0].LatencyMS, int64(30_000), "the call was aborted, not waited for")
	})

	t.Run("a research loop runs until the assessor approves", func(t *testing.T) {
		var task taskJSON
		code := s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "workflow:research_loop", "input": map[string]any{"topic": "LOOP-TOPIC"}}, nil, &task)
		require.Equal(t, http.StatusCreated, code)
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		require.JSONEq(t, `{"report": "notes v2", "approved": true, "feedback": "good", "rounds": 2}`, string(done.Output))

		var subtasks struct {
			Items []struct {
				StepID    string  `json:"step_id"`
				Agent     string  `json:"agent"`
				Iteration int     `json:"iteration"`
				Status    string  `json:"status"`
				CostUSD   float64 `json:"cost_usd"`
				Tokens    int64   `json:"input_tokens"`
			} `json:"items"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/subtasks", nil, nil, &subtasks))
		var steps []string
		var sum float64
		for _, st := range subtasks.Items {
			steps = append(steps, fmt.Sprintf("%s#%d:%s", st.StepID, st.Iteration, st.Status))
			sum += st.CostUSD
		}
		require.Equal(t, []string{"research#1:completed", "assess#1:completed", "research#2:completed", "assess#2:completed"}, steps)
		require.InDelta(t, 0.004, sum, 1e-9)
		require.InDelta(t, 0.004, done.CostUSD, 1e-9, "the task carries the totals of its subtasks")
		require.EqualValues(t, 2*50+2*40, done.InputTokens)

		require.ElementsMatch(t, []string{"task_created", "task_started", "task_completed"}, s.auditEvents(t, task.ID))
		recordHistory(t, s.temporal, task.WorkflowID, "research_loop")
	})

	t.Run("an approval step waits for its signal over the API", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "workflow:approval_publish", "input": map[string]any{"brief": "otters"}}, nil, &task))
		require.Eventually(t, func() bool {
			return slices.Contains(s.eventKinds(t, task.ID), "approval_waiting")
		}, 30*time.Second, 50*time.Millisecond)
		require.Equal(t, "running", s.waitFor(t, task.ID, "running").Status, "the task waits")
		code := s.call(t, http.MethodPost, "/v1/tasks/"+task.ID+"/signals/publish_ok", map[string]any{"approved": true, "comment": "ship it"}, nil, nil)
		require.Equal(t, http.StatusAccepted, code)
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		require.Contains(t, s.eventKinds(t, task.ID), "approval_answered")
		require.Contains(t, s.auditEvents(t, task.ID), "task_signaled")
		recordHistory(t, s.temporal, task.WorkflowID, "approval_publish")
	})

	// The shipped parallel, switch and map workflows, and a map under a
	// budget (shares of it per item), recorded for the replay tests.
	for _, c := range []struct{ name, typ, input, definition string }{
		{"parallel_summary", "workflow:parallel_summary", `{"text": "Otters hold hands while they sleep."}`, ""},
		{"triage", "workflow:triage", `{"message": "TRIAGE-ME how do I reset my password?"}`, ""},
		{"summarize_documents", "workflow:summarize_documents", `{"documents": [{"title": "a", "text": "one"}, {"title": "b", "text": "two"}, {"title": "c", "text": "three"}]}`, ""},
		{"map_with_budget", "workflow:map_with_budget", `{"items": ["x", "y", "z"]}`,
			"name: map_with_budget\nbudget: {max_cost_usd: 1}\nsteps:\n  - map:\n      id: each\n      items: input.items\n      concurrency: 2\n      step: {id: one, agent: summarize, prompt: \"{{ item }}\"}\n"},
	} {
		t.Run("the "+c.name+" workflow completes", func(t *testing.T) {
			body := map[string]any{"type": c.typ, "input": json.RawMessage(c.input)}
			if c.definition != "" {
				body["definition"] = c.definition
			}
			var task taskJSON
			require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", body, nil, &task))
			done := s.waitFor(t, task.ID, "completed", "failed")
			require.Equal(t, "completed", done.Status, done.Error)
			require.NotEmpty(t, done.Output)
			recordHistory(t, s.temporal, task.WorkflowID, c.name)
		})
	}

	t.Run("events stream as SSE and resume after Last-Event-ID", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "summarize", "input": map[string]any{"text": "stream me"}}, nil, &task))
		stream := func(lastID string) []string {
			req, err := http.NewRequest(http.MethodGet, s.api+"/v1/tasks/"+task.ID+"/events", nil)
			require.NoError(t, err)
			req.Header.Set("Accept", "text/event-stream")
			if lastID != "" {
				req.Header.Set("Last-Event-ID", lastID)
			}
			resp, err := http.DefaultClient.Do(req) // the stream ends when the task has
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			var ids []string
			for _, line := range strings.Split(string(body), "\n") {
				if id, ok := strings.CutPrefix(line, "id: "); ok {
					ids = append(ids, id)
				}
			}
			return ids
		}
		all := stream("")
		require.GreaterOrEqual(t, len(all), 4, "created, started, llm_call, completed")
		require.Equal(t, all[2:], stream(all[1]), "resuming skips what was seen")
	})

	t.Run("troupe run submits a workflow file and follows it", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "two_step.yaml")
		require.NoError(t, os.WriteFile(file, []byte("name: two_step\nsteps:\n  - id: first\n    agent: summarize\n    prompt: \"{{ input.text }}\"\n  - id: second\n    agent: summarize\n    prompt: \"again: {{ steps.first.output.text }}\"\n"), 0o644))
		var out bytes.Buffer
		env := map[string]string{"TROUPE_API_URL": s.api}
		err := Run(context.Background(), []string{"run", file, "--input", `{"text": "from a file"}`}, func(k string) string { return env[k] }, &out, &out)
		require.NoError(t, err, out.String())
		require.Contains(t, out.String(), "subtask_completed")
		require.Contains(t, out.String(), "completed (cost $")
		require.Contains(t, out.String(), "A short summary.")
	})

	t.Run("metrics count tasks and LLM calls", func(t *testing.T) {
		resp, err := http.Get(s.api + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(body), `troupe_tasks_finished_total{status="completed",type="summarize"}`)
		require.Contains(t, string(body), `troupe_llm_calls_total{model="gpt-4o-mini",outcome="rate_limited",provider="openai"} 2`)
		require.Contains(t, string(body), `troupe_http_request_duration_seconds_count{method="POST",route="/v1/tasks",status="201"}`)
		require.Contains(t, string(body), "troupe_stream_listens_total 1", "the event hub's metrics")
	})

	t.Run("an Idempotency-Key returns the same task", func(t *testing.T) {
		body := map[string]any{"type": "summarize", "input": map[string]any{"text": "once"}}
		key := map[string]string{"Idempotency-Key": uuid.NewString()}
		var first, second taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", body, key, &first))
		require.Equal(t, http.StatusOK, s.call(t, http.MethodPost, "/v1/tasks", body, key, &second))
		require.Equal(t, first.ID, second.ID)
		s.waitFor(t, first.ID, "completed")
	})

	t.Run("a model that is down falls back to the next", func(t *testing.T) {
		def := "name: resilient\nagents:\n  w:\n    model: gpt-down\n    fallback_models: [gpt-4o-mini]\nsteps:\n  - {id: one, agent: w, prompt: hello}\n"
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "workflow:resilient", "definition": def, "input": map[string]any{}}, nil, &task))
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		var calls struct {
			Items []struct {
				Model string `json:"model"`
				Error string `json:"error"`
			} `json:"items"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/llm-calls", nil, nil, &calls))
		var models []string
		for _, c := range calls.Items {
			models = append(models, fmt.Sprintf("%s ok=%v", c.Model, c.Error == ""))
		}
		require.Equal(t, []string{"gpt-down ok=false", "gpt-down ok=false", "gpt-down ok=false", "gpt-4o-mini ok=true"}, models,
			"each call records the model it was made with")
	})

	t.Run("troupe follow, signal, show and tasks look around", func(t *testing.T) {
		env := map[string]string{"TROUPE_API_URL": s.api}
		troupe := func(ctx context.Context, args ...string) (string, error) {
			var out bytes.Buffer
			err := Run(ctx, args, func(k string) string { return env[k] }, &out, &out)
			return out.String(), err
		}
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "workflow:approval_publish", "input": map[string]any{"brief": "beavers"}}, nil, &task))
		ctx, interrupt := context.WithCancel(context.Background())
		followed := make(chan string, 1)
		go func() {
			out, err := troupe(ctx, "follow", task.ID)
			assert.NoError(t, err)
			followed <- out
		}()
		require.Eventually(t, func() bool {
			return len(s.eventKinds(t, task.ID)) > 0 && slices.Contains(s.eventKinds(t, task.ID), "approval_waiting")
		}, time.Minute, 100*time.Millisecond)
		time.Sleep(500 * time.Millisecond) // follow prints the wait
		interrupt()                        // Ctrl-C
		out := <-followed
		require.Contains(t, out, "waiting for approval: curl -X POST "+s.api+"/v1/tasks/"+task.ID+"/signals/publish_ok")
		require.Contains(t, out, "task "+task.ID+" goes on. Attach again with: troupe follow "+task.ID)

		out, err := troupe(context.Background(), "signal", task.ID, "publish_ok", "--data", `{"approved": true}`)
		require.NoError(t, err, out)
		require.Contains(t, out, "signal publish_ok sent")
		out, err = troupe(context.Background(), "follow", task.ID)
		require.NoError(t, err, out)
		require.Contains(t, out, "completed (cost $")

		out, err = troupe(context.Background(), "show", task.ID)
		require.NoError(t, err, out)
		t.Log(out)
		require.Contains(t, out, "workflow:approval_publish "+task.ID+"  completed")
		require.Regexp(t, `├─ step draft \(writer, iteration 1\)  completed`, out)
		require.Regexp(t, `│  ├─ llm gpt-4o-mini #1  \d+\+\d+ tokens`, out)
		require.Regexp(t, `├─ step final \(writer, iteration 1\)  completed`, out)
		require.Contains(t, out, "└─ output: ")

		out, err = troupe(context.Background(), "tasks", "--type", "workflow:approval_publish", "--status", "completed")
		require.NoError(t, err, out)
		require.Regexp(t, task.ID+`\s+workflow:approval_publish\s+completed\s+gpt-4o-mini`, out)
		_, err = troupe(context.Background(), "cancel", task.ID)
		require.ErrorContains(t, err, "409", "a finished task cannot be canceled")
	})

	t.Run("troupe workers shows the dev worker on the queue", func(t *testing.T) {
		env := map[string]string{"TROUPE_API_URL": s.api}
		var out bytes.Buffer
		require.NoError(t, Run(context.Background(), []string{"workers"}, func(k string) string { return env[k] }, &out, &out))
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		require.Len(t, lines, 3, out.String())
		require.Regexp(t, `^troupe\s+workflow\s+1\s+0\s`, lines[1])
		require.Regexp(t, `^troupe\s+activity\s+1\s+0\s`, lines[2])
	})

	t.Run("troupe export writes the conversations as JSONL", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "summarize", "input": map[string]any{"text": "export me"}}, nil, &task))
		s.waitFor(t, task.ID, "completed")
		file := filepath.Join(t.TempDir(), "summaries.jsonl")
		env := map[string]string{"TROUPE_API_URL": s.api}
		var out bytes.Buffer
		err := Run(context.Background(), []string{"export", "--type", "summarize", "--status", "completed", "--output", file},
			func(k string) string { return env[k] }, &out, &out)
		require.NoError(t, err, out.String())
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		require.Contains(t, lines[0], task.ID, "newest first")
		for _, line := range lines {
			var conv struct {
				Messages []struct {
					Role    string  `json:"role"`
					Content *string `json:"content"`
				} `json:"messages"`
				Metadata struct {
					TaskID, Type, Status, Model string
					CostUSD                     float64 `json:"cost_usd"`
				} `json:"metadata"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &conv), line)
			require.Equal(t, "summarize", conv.Metadata.Type)
			require.Equal(t, "completed", conv.Metadata.Status)
			require.Equal(t, "system", conv.Messages[0].Role)
			require.Equal(t, "user", conv.Messages[1].Role)
			last := conv.Messages[len(conv.Messages)-1]
			require.Equal(t, "assistant", last.Role, "the answer closes the conversation")
			require.NotEmpty(t, *last.Content)
		}
	})

	t.Run("a task past its timeout ends timed_out", func(t *testing.T) {
		var problem struct{ Detail string }
		require.Equal(t, http.StatusUnprocessableEntity, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}, "timeout": "forever"}, nil, &problem))
		require.Contains(t, problem.Detail, "from 1s to 720h")

		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "chat", "input": map[string]any{"prompt": "SLOW past the timeout"}, "timeout": "2s"}, nil, &task))
		require.Equal(t, "2s", task.Timeout)
		done := s.waitFor(t, task.ID, "timed_out", "completed", "failed", "canceled")
		require.Equal(t, "timed_out", done.Status, done.Error)
		require.Equal(t, "the task's timeout of 2s passed", done.Error)
		require.Less(t, done.FinishedAt.Sub(*done.StartedAt), 30*time.Second, "ended at its timeout, not the call's minute")
		kinds := s.eventKinds(t, task.ID)
		require.Equal(t, "timed_out", kinds[len(kinds)-1], "the event stream ends with the outcome")
	})

	t.Run("a task on a queue runs only on a worker of that queue", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "summarize", "input": map[string]any{"text": "on the gpu queue"}, "queue": "gpu"}, nil, &task))
		require.Equal(t, "gpu", task.Queue)
		require.Never(t, func() bool {
			var now taskJSON
			s.call(t, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &now)
			return now.Status != "pending"
		}, 2*time.Second, 200*time.Millisecond, "the dev worker, on queue troupe, leaves it alone")

		env := map[string]string{
			"DATABASE_URL": s.dbURL, "TEMPORAL_ADDRESS": s.temporal, "TROUPE_METRICS_ADDR": "127.0.0.1:0",
			"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake.URL, "TROUPE_DEFAULT_MODEL": "gpt-4o-mini", "TROUPE_LOG_LEVEL": "warn",
		}
		ctx, cancel := context.WithCancel(context.Background())
		worker := make(chan error, 1)
		go func() {
			worker <- Run(ctx, []string{"worker", "--queue", "gpu"}, func(k string) string { return env[k] }, io.Discard, &testWriter{t: t})
		}()
		defer func() {
			cancel()
			require.NoError(t, <-worker)
		}()
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
	})

}

// eventKinds lists the kinds of the task's events, oldest first.
func (s *devStack) eventKinds(t testing.TB, taskID string) []string {
	t.Helper()
	var events struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+taskID+"/events", nil, nil, &events))
	var kinds []string
	for _, e := range events.Items {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// auditEvents lists the event types of the task's audit rows.
func (s *devStack) auditEvents(t testing.TB, taskID string) []string {
	t.Helper()
	audit, _, err := s.store.ListAudit(context.Background(), store.AuditFilter{TenantID: "default", ResourceID: taskID})
	require.NoError(t, err)
	var kinds []string
	for _, a := range audit {
		kinds = append(kinds, a.EventType)
	}
	return kinds
}

func reverse(s []string) []string {
	slices.Reverse(s)
	return s
}

func lastPrompt(s *llmtest.Server) string {
	reqs := s.Requests()
	if len(reqs) == 0 {
		return ""
	}
	msgs := reqs[len(reqs)-1].Messages
	return msgs[len(msgs)-1].Content
}
