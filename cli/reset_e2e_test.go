package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	common "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// resetDefinition drafts, waits for a person's approval, then finalises.
const resetDefinition = `name: reset_publish
steps:
  - {id: draft, agent: writer, prompt: "DRAFT {{ input.brief }}"}
  - id: ok
    approval: {message: "Publish?", signal: ok}
  - {id: final, agent: writer, prompt: "FINAL {{ steps.draft.output.text }}"}
output:
  article: "{{ steps.final.output.text }}"
`

// retryDefinition fails at its second step until the provider is fixed.
const retryDefinition = `name: retry_two_steps
steps:
  - {id: one, agent: writer, prompt: "ONE {{ input.brief }}"}
  - {id: two, agent: writer, prompt: "TWO {{ steps.one.output.text }}"}
output:
  text: "{{ steps.two.output.text }}"
`

// resetSubtask is a subtask as the reset tests read it.
type resetSubtask struct {
	StepID  string  `json:"step_id"`
	RunID   string  `json:"run_id"`
	Status  string  `json:"status"`
	CostUSD float64 `json:"cost_usd"`
}

// TestDevResetWorkflow resets YAML workflow tasks with Temporal's reset
// (what `temporal workflow reset` does): the reset run records its own
// subtasks, waits for its own approval, which can be answered over the API,
// and the task's cost adds up the calls of every run, each once.
func TestDevResetWorkflow(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{} // requests per step
	fixed := false            // whether step TWO gets an answer
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		prompt := req.Messages[len(req.Messages)-1].Content
		step := strings.Fields(prompt)[0]
		mu.Lock()
		calls[step]++
		broken := step == "TWO" && !fixed
		mu.Unlock()
		if broken {
			return llmtest.Reply{Status: http.StatusBadRequest, Content: "the model refuses step two", ErrorCode: "invalid_request_error"}
		}
		cost := 0.001
		return llmtest.Reply{Content: strings.ToLower(step) + " text", InputTokens: 10, OutputTokens: 5, Cost: &cost}
	})
	called := func(step string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[step]
	}
	s := startDev(t, fake, nil)
	tc, err := client.Dial(client.Options{HostPort: s.temporal})
	require.NoError(t, err)
	t.Cleanup(tc.Close)

	// run submits a task, approves it and waits until it completes.
	run := func(t *testing.T, brief string) taskJSON {
		var task taskJSON
		body := map[string]any{"type": "workflow:reset_publish", "definition": resetDefinition, "input": map[string]any{"brief": brief}}
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", body, nil, &task))
		s.approve(t, task.ID, 1)
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		return done
	}

	t.Run("to the first workflow task, every step runs again", func(t *testing.T) {
		task := run(t, "otters")
		first := s.subtasks(t, task.ID)
		require.Len(t, first, 2)
		oldRun := first[0].RunID
		require.NotEmpty(t, oldRun)

		// As `temporal workflow reset --reapply-exclude Signal`: the new run
		// asks for its approval again, and a person answers it.
		newRun := resetTo(t, tc, task.WorkflowID, true, func(e eventInfo) bool { return true })
		s.approve(t, task.ID, 2)
		done := s.waitForRun(t, task.ID, newRun)
		require.Equal(t, "completed", done.Status, done.Error)
		require.JSONEq(t, `{"article": "final text"}`, string(done.Output))

		var steps []string
		for _, st := range s.subtasks(t, task.ID) {
			steps = append(steps, st.StepID+"@"+runName(st.RunID, oldRun, newRun)+":"+st.Status)
		}
		require.Equal(t, []string{"draft@old:completed", "final@old:completed", "draft@new:completed", "final@new:completed"}, steps)
		require.Equal(t, 2, called("DRAFT"))
		require.Equal(t, 2, called("FINAL"))
		s.requireCosts(t, task.ID, 0.004)
		recordHistory(t, s.temporal, task.WorkflowID, "reset_approval")
	})

	t.Run("after a step, the steps before it are kept", func(t *testing.T) {
		drafts, finals := called("DRAFT"), called("FINAL")
		task := run(t, "beavers")
		oldRun := s.subtasks(t, task.ID)[0].RunID

		// The workflow task that started the approval, once the draft's
		// child workflow had completed. Temporal's default reapplies the
		// signals received after that point: the new run asks for its
		// approval again and gets the answer given to the old one.
		childDone := false
		newRun := resetTo(t, tc, task.WorkflowID, false, func(e eventInfo) bool {
			childDone = childDone || e.childCompleted
			return childDone
		})
		done := s.waitForRun(t, task.ID, newRun)
		require.Equal(t, "completed", done.Status, done.Error)
		kinds := s.eventKinds(t, task.ID)
		for _, kind := range []string{"approval_waiting", "approval_answered"} {
			require.Len(t, slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k != kind }), 2, "%s in %v", kind, kinds)
		}

		var steps []string
		for _, st := range s.subtasks(t, task.ID) {
			steps = append(steps, st.StepID+"@"+runName(st.RunID, oldRun, newRun)+":"+st.Status)
		}
		require.Equal(t, []string{"draft@old:completed", "final@old:completed", "final@new:completed"}, steps)
		require.Equal(t, drafts+1, called("DRAFT"), "the draft was not asked for again")
		require.Equal(t, finals+2, called("FINAL"))
		s.requireCosts(t, task.ID, 0.003)
	})

	t.Run("troupe retry runs a failed task again from the step that failed", func(t *testing.T) {
		testRetry(t, s, called, func() {
			mu.Lock()
			defer mu.Unlock()
			fixed = true
		})
	})
}

// approve waits until the task waits for its approval, for the n-th time,
// and answers it over the API.
func (s *devStack) approve(t *testing.T, taskID string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var task struct {
			Status  string `json:"status"`
			Waiting []struct {
				Signal string `json:"signal"`
			} `json:"waiting"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+taskID, nil, nil, &task))
		kinds := s.eventKinds(t, taskID)
		waited := len(slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k != "approval_waiting" }))
		if task.Status == "running" && waited == n && len(task.Waiting) == 1 && task.Waiting[0].Signal == "ok" {
			break
		}
		require.True(t, time.Now().Before(deadline), "approval %d of task %s: %+v, events %v", n, taskID, task, kinds)
		time.Sleep(50 * time.Millisecond)
	}
	code := s.call(t, http.MethodPost, "/v1/tasks/"+taskID+"/signals/ok", map[string]any{"approved": true}, nil, nil)
	require.Equal(t, http.StatusAccepted, code)
}

// waitForRun waits until the run runID of the task's workflow has ended it.
func (s *devStack) waitForRun(t *testing.T, taskID, runID string) taskJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var task struct {
			taskJSON
			RunID string `json:"run_id"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+taskID, nil, nil, &task))
		if task.RunID == runID && task.FinishedAt != nil {
			return task.taskJSON
		}
		require.True(t, time.Now().Before(deadline), "task %s: run %s, status %s; want run %s ended", taskID, task.RunID, task.Status, runID)
		time.Sleep(100 * time.Millisecond)
	}
}

// subtasks lists the task's subtasks over the API.
func (s *devStack) subtasks(t *testing.T, taskID string) []resetSubtask {
	t.Helper()
	var out struct {
		Items []resetSubtask `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+taskID+"/subtasks", nil, nil, &out))
	return out.Items
}

// requireCosts checks that the task cost what its LLM calls cost, each
// counted once, and that its subtasks carry the same total.
func (s *devStack) requireCosts(t *testing.T, taskID string, want float64) {
	t.Helper()
	var task taskJSON
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+taskID, nil, nil, &task))
	require.InDelta(t, want, task.CostUSD, 1e-9)
	calls, err := s.store.ListLLMCalls(context.Background(), "default", uuid.MustParse(taskID))
	require.NoError(t, err)
	var sum float64
	for _, c := range calls {
		sum += c.CostUSD
	}
	require.InDelta(t, want, sum, 1e-9)
	sum = 0
	for _, st := range s.subtasks(t, taskID) {
		sum += st.CostUSD
	}
	require.InDelta(t, want, sum, 1e-9)
}

// eventInfo is what resetTo tells its choice of an event of the history.
type eventInfo struct {
	childCompleted bool // a child workflow completed since the previous workflow task
}

// resetTo resets the workflow to the first completed workflow task that
// pick accepts, as `temporal workflow reset` does, and returns the new run's
// id. The signals received after that point are given to the new run again
// unless excludeSignals.
func resetTo(t *testing.T, tc client.Client, workflowID string, excludeSignals bool, pick func(eventInfo) bool) string {
	t.Helper()
	ctx := context.Background()
	var at int64
	var info eventInfo
	for it := tc.GetWorkflowHistory(ctx, workflowID, "", false, 0); it.HasNext() && at == 0; {
		e, err := it.Next()
		require.NoError(t, err)
		switch e.GetEventType() {
		case enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
			info.childCompleted = true
		case enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if pick(info) {
				at = e.GetEventId()
			}
			info = eventInfo{}
		}
	}
	require.NotZero(t, at, "no workflow task to reset to")
	req := &workflowservice.ResetWorkflowExecutionRequest{
		Namespace: "default", WorkflowExecution: &common.WorkflowExecution{WorkflowId: workflowID},
		Reason: "test", WorkflowTaskFinishEventId: at, RequestId: uuid.NewString(),
	}
	if excludeSignals {
		req.ResetReapplyExcludeTypes = []enums.ResetReapplyExcludeType{enums.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL}
	}
	resp, err := tc.ResetWorkflowExecution(ctx, req)
	require.NoError(t, err)
	return resp.GetRunId()
}

// runName names a run id as old, new or what it is.
func runName(id, oldRun, newRun string) string {
	switch id {
	case oldRun:
		return "old"
	case newRun:
		return "new"
	}
	return id
}

// TestDevResetWorkflow's retry: troupe retry (POST /v1/tasks/{id}/retry)
// runs a failed task again from the step that failed.
func testRetry(t *testing.T, s *devStack, called func(string) int, fix func()) {
	troupe := func(args ...string) (string, error) {
		env := map[string]string{"TROUPE_API_URL": s.api}
		var out bytes.Buffer
		err := Run(context.Background(), args, func(k string) string { return env[k] }, &out, &out)
		return out.String(), err
	}
	var task taskJSON
	body := map[string]any{"type": "workflow:retry_two_steps", "definition": retryDefinition, "input": map[string]any{"brief": "otters"}}
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", body, nil, &task))
	failed := s.waitFor(t, task.ID, "completed", "failed")
	require.Equal(t, "failed", failed.Status)
	require.Contains(t, failed.Error, "the model refuses step two")
	require.Equal(t, 1, called("ONE"))
	require.Equal(t, 1, called("TWO"))

	fix()
	out, err := troupe("retry", task.ID)
	require.NoError(t, err, out)
	require.Contains(t, out, "task "+task.ID+": retried from the step that failed")
	var got struct {
		taskJSON
		RunID string `json:"run_id"`
		Runs  []struct {
			RunID  string `json:"run_id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"runs"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &got))
	require.Len(t, got.Runs, 2)
	oldRun := got.Runs[0].RunID
	require.Equal(t, got.RunID, got.Runs[1].RunID, "the new run is the task's")
	done := s.waitForRun(t, task.ID, got.RunID)
	require.Equal(t, "completed", done.Status, done.Error)
	require.JSONEq(t, `{"text": "two text"}`, string(done.Output))
	require.Equal(t, 1, called("ONE"), "the step that completed was not run again")
	require.Equal(t, 2, called("TWO"))

	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &got))
	require.Len(t, got.Runs, 2)
	require.Equal(t, oldRun, got.Runs[0].RunID)
	require.Equal(t, "failed", got.Runs[0].Status)
	require.Contains(t, got.Runs[0].Error, "the model refuses step two")
	require.Equal(t, "completed", got.Runs[1].Status)
	var steps []string
	for _, st := range s.subtasks(t, task.ID) {
		steps = append(steps, st.StepID+"@"+runName(st.RunID, oldRun, got.RunID)+":"+st.Status)
	}
	require.Equal(t, []string{"one@old:completed", "two@old:failed", "two@new:completed"}, steps)
	s.requireCosts(t, task.ID, 0.002)
	recordHistory(t, s.temporal, task.WorkflowID, "retry_failed_step")

	audit, _, err := s.store.ListAudit(context.Background(), store.AuditFilter{TenantID: "default", ResourceID: task.ID})
	require.NoError(t, err)
	var retried []string
	for _, a := range audit {
		if a.EventType == "task_retried" {
			retried = append(retried, a.Actor)
		}
	}
	require.Len(t, retried, 1, "the retry is audited once")
	require.NotEmpty(t, retried[0], "with who asked")
	require.Equal(t, []string{"task_created", "task_started", "task_failed", "task_retried", "task_started", "task_completed"}, reverse(s.auditEvents(t, task.ID)))

	// Only an ended task that did not complete can be retried.
	_, err = troupe("retry", task.ID)
	require.ErrorContains(t, err, "409")
	var waiting taskJSON
	body = map[string]any{"type": "workflow:reset_publish", "definition": resetDefinition, "input": map[string]any{"brief": "seals"}}
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", body, nil, &waiting))
	for deadline := time.Now().Add(30 * time.Second); !slices.Contains(s.eventKinds(t, waiting.ID), "approval_waiting"); {
		require.True(t, time.Now().Before(deadline), "task %s never waited for its approval", waiting.ID)
		time.Sleep(50 * time.Millisecond)
	}
	req, err := http.NewRequest(http.MethodPost, s.api+"/v1/tasks/"+waiting.ID+"/retry", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var problem struct {
		Detail string `json:"detail"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&problem))
	require.Contains(t, problem.Detail, "only a failed, canceled or timed-out task can be retried")

	// A task canceled while it waited goes back to before the cancel: it
	// waits for its approval again.
	require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/v1/tasks/"+waiting.ID+"/cancel", nil, nil, nil))
	require.Equal(t, "canceled", s.waitFor(t, waiting.ID, "canceled", "completed", "failed").Status)
	var again taskJSON
	require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/v1/tasks/"+waiting.ID+"/retry", nil, nil, &again))
	require.Equal(t, "running", again.Status)
	s.approve(t, waiting.ID, 2)
	require.Equal(t, "completed", s.waitFor(t, waiting.ID, "completed", "failed", "canceled").Status)
}
