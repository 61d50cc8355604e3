package cli

import (
	"context"
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
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		prompt := req.Messages[len(req.Messages)-1].Content
		step := strings.Fields(prompt)[0]
		mu.Lock()
		calls[step]++
		mu.Unlock()
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
